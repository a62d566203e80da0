"""A warm start: pre-score many random genomes with a cheap scorer and start the search from the best.

:class:`Warmup` draws ``candidates`` distinct random genomes, scores each
with ``scorer(genome) -> float`` (larger is better; anything cheap: a
zero-cost proxy of the untrained network, a column of a benchmark table, a
model's prediction) and keeps the best. Aging evolution (and the
surrogate strategy, which breeds as it does) takes its initial random
individuals from them, best first: ``AgingProposer(..., warmup=Warmup(...))``.
The scores are not fitness: every kept genome is then evaluated as usual,
and charged as a training; the warm-up's own cost is its real seconds,
which a ``seconds`` budget counts, and whatever the scorer records
(``deap-cnn search --proxy-warmup`` writes ``warmup.jsonl``). Torch-free.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["Warmup"]


class Warmup:
    """Score ``candidates`` random genomes with ``scorer``; :meth:`select` returns the best.

    After :meth:`select`, ``scored`` holds ``(genome text, score, seconds)``
    of every candidate in the order drawn, and ``seconds`` their total.

    Parameters
    ----------
    scorer:
        A callable ``scorer(genome) -> float``; larger is better, or smaller
        with ``maximise=False``. A value that is not a finite number ranks last.
    candidates:
        How many distinct random genomes to score (at least 1).
    maximise:
        Whether larger scores are better.
    """

    def __init__(self, scorer: Callable, candidates: int, maximise: bool = True):
        if not callable(scorer):
            raise TypeError(f"scorer must be callable as scorer(genome) -> float, got {scorer!r}")
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ValueError(f"candidates must be an integer >= 1, got {candidates!r}")
        self.scorer = scorer
        self.candidates = candidates
        self.maximise = maximise
        self.scored = []
        self.seconds = 0.0

    def __repr__(self):
        return f"Warmup({self.scorer!r}, candidates={self.candidates}, maximise={self.maximise})"

    def _rank(self, score) -> float:
        try:
            value = float(score)
        except (TypeError, ValueError):
            return -math.inf
        if not math.isfinite(value):
            return -math.inf
        return value if self.maximise else -value

    def select(self, make: Callable, keep: int, known: Callable | None = None) -> list:
        """The ``keep`` best of ``candidates`` genomes ``make()`` draws, best first (ties: the earlier drawn).

        ``known(genome)`` (optional) says which genomes to avoid (evaluated
        already); a draw that repeats one is made again a few times.
        """
        from .aging import fresh

        drawn, texts = [], set()

        def seen(genome):
            return str(genome) in texts or (known is not None and known(genome))

        for _ in range(self.candidates):
            genome = fresh(make, seen)
            if str(genome) in texts:
                break  # the space holds no more new genomes
            texts.add(str(genome))
            started = time.perf_counter()
            score = self.scorer(genome)
            took = time.perf_counter() - started
            self.seconds += took
            self.scored.append((str(genome), score, took))
            drawn.append((self._rank(score), len(drawn), genome))
        drawn.sort(key=lambda item: (-item[0], item[1]))
        return [genome for _, _, genome in drawn[:keep]]
