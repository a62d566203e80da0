"""The pick, chosen again: the best few distinct genomes of a search trained once more, longer, from scratch.

A search's best validation score is the largest of many noisy ones, so the
genome that holds it is as much the one whose short training was luckiest
as the best architecture (the winner's curse), and an evolutionary search,
which trains many near copies of its best genomes, is more exposed to it
than random search. With weight inheritance the best score is also the one
whose lineage trained longest, while the final training starts from scratch.
Reranking trains each of the ``k`` best distinct genomes again, from
scratch, with another training seed and for ``epochs`` epochs (closer to the
final training), and the pick is the best of those retrainings.

Torch-free: the training is the evaluator's; this module only chooses.
"""

from __future__ import annotations

import dataclasses
import math

from .halving import rung_evaluator
from .objectives import ObjectiveEvaluator

__all__ = ["top_distinct", "rerank_evaluator", "rerank", "rerank_cost"]


def top_distinct(scored, k: int, sign: float = 1.0) -> list:
    """The ``k`` best distinct genomes of ``scored`` (``(genome, score)`` pairs), best first.

    Genomes are told apart by their text; a genome scored more than once
    counts with its best score; ties keep the one scored first; scores that
    are not finite (failed trainings) never count. ``sign=-1`` ranks smaller
    scores first.
    """
    if k < 1:
        raise ValueError(f"rerank needs k >= 1 genomes, got {k!r}")
    best = {}  # text -> [score x sign, order first scored, genome]
    for order, (genome, score) in enumerate(scored):
        if score is None or not math.isfinite(score):
            continue
        entry = best.setdefault(str(genome), [sign * score, order, genome])
        entry[0] = max(entry[0], sign * score)
    ranked = sorted(best.values(), key=lambda entry: (-entry[0], entry[1]))
    return [genome for _, _, genome in ranked[:k]]


def rerank_evaluator(evaluator, epochs: int, seed_offset: int = 1):
    """A copy of ``evaluator`` that trains ``epochs`` epochs from scratch with training seed ``seed + seed_offset``.

    The copy inherits no weights and writes none (``weights_dir`` off), so
    a genome's lineage cannot lift its score. An evaluator wrapped by
    objectives gives the wrapped copy, scored by the same objectives.
    """
    if epochs < 1:
        raise ValueError(f"rerank epochs must be at least 1, got {epochs!r}")
    if isinstance(evaluator, ObjectiveEvaluator):
        return evaluator.objectives.wrap(rerank_evaluator(evaluator.evaluator, epochs, seed_offset))
    clone = rung_evaluator(evaluator, epochs)
    clone.settings = dataclasses.replace(clone.settings, seed=clone.settings.seed + seed_offset)
    if hasattr(clone, "weights_dir"):
        clone.weights_dir = None
    return clone


def rerank_cost(flops_per_image, images: int, epochs: int) -> float:
    """Multiply-adds x images of reranking genomes of these forward FLOPs (a multiply-add counts 2)."""
    return sum(flops / 2 * images * epochs for flops in flops_per_image)


def rerank(genomes, evaluate, map_function=map, sign: float = 1.0) -> list:
    """Evaluate each genome once more; ``[(genome, record), ...]`` best first by ``record.fitness[0]``.

    ``evaluate(genome) -> record`` is e.g. a :func:`rerank_evaluator`'s
    ``record``; ``map_function`` spreads the trainings over workers. A
    record whose status is not ``"ok"`` ranks last; ties keep the order of
    ``genomes`` (the search's own ranking).
    """
    genomes = list(genomes)
    records = list(map_function(evaluate, genomes))

    def rank(item):
        order, (_, record) = item
        ok = getattr(record, "status", "ok") == "ok"
        return (not ok, -sign * record.fitness[0] if ok else 0.0, order)

    ranked = sorted(enumerate(zip(genomes, records, strict=True)), key=rank)
    return [pair for _, pair in ranked]
