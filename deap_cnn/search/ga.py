"""The CNN-GA generational loop, in the style of ``deap.algorithms.eaSimple``.

The loop expects a toolbox with ``mate``, ``mutate``, ``select`` (the
environmental selection, e.g. :func:`~deap_cnn.sel_environmental`),
``evaluate``, ``clone`` and ``map``; ``select_mates`` is optional and
defaults to :func:`~deap_cnn.sel_binary_tournament`. The same toolbox keeps
working with DEAP's own loops.

Evaluation sends workers one individual per distinct architecture and gets
back records, never individuals: since DEAP 1.4 a creator class is rebuilt on
every unpickling, so individuals that travelled back would each belong to a
class of their own. ``evaluate`` may return a fitness tuple or a record with
``fitness`` and ``to_dict()`` (:class:`deap_cnn.training.settings.EvaluationRecord`).
"""

from __future__ import annotations

import random
import time
from functools import partial

from deap import tools

from ..families.cnn_ga.operators import sel_binary_tournament
from ..training.lineage import evaluation_key
from .cache import EvaluationCache
from .checkpoint import save_checkpoint
from .evaluation import evaluate_population
from .inheritance import set_parent
from .steady import mutant

__all__ = ["vary_cnn_ga", "ea_cnn_ga"]


def vary_cnn_ga(population, toolbox, cxpb, mutpb, weights_folder=None, known=None):
    """CNN-GA's offspring: parents by ``toolbox.select_mates``, crossover, then mutation.

    Offspring are clones; the fitness of each one that a variation touched is
    deleted, as ``deap.algorithms.varAnd`` does. With ``weights_folder`` (a
    :class:`~deap_cnn.search.inheritance.WeightsFolder`) each varied child
    inherits the trained weights of the parent it was cloned from: the
    mutated parent, or for crossover the parent its first part came from.

    With ``known`` (a predicate: was this genome evaluated?) no child repeats
    an evaluated genome or a sibling: such a child is mutated again, and
    after :data:`~deap_cnn.search.aging.MAX_TRIES` failures replaced by a
    random newcomer. A converged population then still proposes new
    architectures instead of a generation of cache hits.
    """
    select_mates = getattr(toolbox, "select_mates", sel_binary_tournament)
    offspring, origins = [], []
    while len(offspring) < len(population):
        pair = select_mates(population, 2)
        first, second = map(toolbox.clone, pair)
        if random.random() < cxpb:
            toolbox.mate(first, second)
            del first.fitness.values, second.fitness.values
        offspring += [first, second]
        origins += pair
    offspring, origins = offspring[: len(population)], origins[: len(population)]
    for child in offspring:
        if random.random() < mutpb:
            toolbox.mutate(child)
            del child.fitness.values
    if known is not None:
        _renew_repeats(offspring, origins, toolbox, known)
    if weights_folder is not None:
        for child, origin in zip(offspring, origins, strict=True):
            if not child.fitness.valid and origin is not None:
                set_parent(child, origin, weights_folder)
    return offspring


def _evaluated_before(cache, individual, generation: int) -> bool:
    """Whether ``cache`` holds ``individual``'s evaluation from a generation before ``generation``.

    A record stored in ``generation`` itself or later is one that a run killed
    mid-generation trained before its checkpoint: counting it as known would
    make the resumed run vary differently from the uninterrupted one.
    """
    record = cache.get(evaluation_key(individual))
    if record is None:
        return False
    stored_in = record.get("generation")
    return stored_in is None or stored_in < generation


def _renew_repeats(offspring, origins, toolbox, known):
    """Vary again (or replace by a random newcomer) every child that repeats an evaluated genome or a sibling."""
    from .aging import fresh

    taken = set()

    def repeated(genome):
        return known(genome) or str(genome) in taken

    for position, child in enumerate(offspring):
        if repeated(child):
            renewed = fresh(partial(mutant, toolbox, child), repeated)
            if repeated(renewed):
                renewed, origins[position] = fresh(toolbox.individual, repeated), None  # a newcomer: no parent
            if renewed.fitness.valid:
                del renewed.fitness.values
            offspring[position] = renewed
        taken.add(str(offspring[position]))


def ea_cnn_ga(
    population,
    toolbox,
    cxpb=0.9,
    mutpb=0.2,
    ngen=20,
    stats=None,
    halloffame=None,
    verbose=__debug__,
    cache=None,
    checkpoint=None,
    start_gen=0,
    logbook=None,
    evaluate_population=evaluate_population,
    callback=None,
    weights_folder=None,
    fresh_offspring=False,
):
    """Run CNN-GA for ``ngen`` generations; return ``(population, logbook)``.

    Generation 0 evaluates the initial population. Each later generation
    makes ``len(population)`` offspring (:func:`vary_cnn_ga`), evaluates those
    whose fitness is invalid (:func:`evaluate_population`, through ``cache``)
    and keeps ``toolbox.select(population + offspring, len(population))``.

    ``checkpoint``, a path, receives an atomic checkpoint after every
    generation (population, hall of fame, logbook, generation, random
    states). To resume, restore the random states and pass the checkpoint's
    population, ``halloffame``, ``logbook`` and ``start_gen = generation + 1``:
    :func:`deap_cnn.search.checkpoint.start_or_resume` does it. The logbook records per generation
    the trainings run (``nevals``), the ``cache_hits``, the ``failed``
    candidates, and the wall and evaluation ``seconds``.

    ``evaluate_population`` may replace :func:`evaluate_population` with a
    function of the same signature and return value, e.g.
    :class:`deap_cnn.search.halving.SuccessiveHalving`. ``callback(generation,
    population, halloffame, logbook)``, when given, runs after each
    generation's checkpoint (a run rewrites its report there). The logbook's
    ``duplicates`` counts results that arrived for a genome already stored
    (dropped without a second row).

    ``weights_folder`` (a :class:`~deap_cnn.search.inheritance.WeightsFolder`
    the evaluator saves trained weights to) turns on weight inheritance; after
    each generation it keeps only the weights of the population and the hall
    of fame.

    ``fresh_offspring`` varies again every child the cache already holds
    (:func:`vary_cnn_ga`'s ``known``), so a converged population keeps
    proposing new architectures; CNN-GA as published trains repeats as cache
    hits (the default).
    """
    cache = EvaluationCache() if cache is None else cache
    if logbook is None:
        logbook = tools.Logbook()
        logbook.header = ["gen", "nevals", "cache_hits", "failed", "duplicates", "seconds", "eval_seconds"] + (
            stats.fields if stats else []
        )
    elif verbose and len(logbook):
        print(logbook.stream)

    for gen in range(start_gen, ngen + 1):
        started = time.perf_counter()
        if gen == 0:
            candidates = population
        else:
            known = partial(_evaluated_before, cache, generation=gen) if fresh_offspring else None
            candidates = vary_cnn_ga(population, toolbox, cxpb, mutpb, weights_folder, known)
        eval_started = time.perf_counter()
        duplicates_before = getattr(cache, "duplicates", 0)
        trained, hits, failed = evaluate_population(candidates, toolbox, cache, generation=gen)
        eval_seconds = time.perf_counter() - eval_started
        if gen > 0:
            # Environmental selection may pick one individual twice: give each slot its own copy.
            population[:] = [toolbox.clone(ind) for ind in toolbox.select(population + candidates, len(population))]
        if halloffame is not None:
            halloffame.update(population)
        if weights_folder is not None:
            weights_folder.keep_only(list(population) + list(halloffame or []))
        record = stats.compile(population) if stats else {}
        logbook.record(
            gen=gen,
            nevals=trained,
            cache_hits=hits,
            failed=failed,
            duplicates=getattr(cache, "duplicates", 0) - duplicates_before,
            seconds=round(time.perf_counter() - started, 3),
            eval_seconds=round(eval_seconds, 3),
            **record,
        )
        if checkpoint is not None:
            save_checkpoint(checkpoint, population=population, generation=gen, halloffame=halloffame, logbook=logbook)
        if callback is not None:
            callback(gen, population, halloffame, logbook)
        if verbose:
            print(logbook.stream)
    return population, logbook
