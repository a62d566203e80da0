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
``fitness`` and ``to_dict()`` (:class:`deap_cnn.evaluate.EvaluationRecord`).
"""

from __future__ import annotations

import os
import random
import socket
import sys
import time
from functools import partial

from deap import tools

from .checkpoint import load_checkpoint, restore_random_state, save_checkpoint
from .engines import LostWorkerError
from .operators import sel_binary_tournament

__all__ = ["EvaluationCache", "ea_cnn_ga", "evaluate_population", "vary_cnn_ga", "scoop_map", "start_or_resume"]


class EvaluationCache:
    """Records of evaluated architectures, keyed by canonical genome.

    One cache serves one set of evaluation settings. With a
    :class:`~deap_cnn.store.ResultsStore` behind it, the records persist (and
    are found again after a resume); without, they live in memory.
    """

    def __init__(self, store=None):
        self.store = store
        self._memory = {}

    def get(self, key: str):
        if key not in self._memory and self.store is not None:
            found = self.store.lookup(key)
            if found is not None:
                self._memory[key] = found
        return self._memory.get(key)

    def put(self, key: str, record: dict, generation=None, worker=None):
        self._memory[key] = record
        if self.store is not None:
            self.store.add(record, generation=generation, worker=worker)

    def __contains__(self, key):
        return self.get(key) is not None

    def __len__(self):
        return len(self.store) if self.store is not None else len(self._memory)


def scoop_map():
    """``(map, workers)``: the SCOOP engine's map and worker count under ``python -m scoop``, else ``(map, 1)``.

    Lets one script run both ways: ``python script.py`` evaluates serially,
    ``python -m scoop -n 4 script.py`` over four workers. The SCOOP engine
    raises :class:`~deap_cnn.engines.LostWorkerError` instead of hanging
    when a worker dies (:mod:`deap_cnn.engines.scoop_engine`).
    """
    import scoop

    if getattr(scoop, "IS_RUNNING", False):
        from .engines.scoop_engine import ScoopEngine

        engine = ScoopEngine()
        return engine.map, engine.workers
    return map, 1


def _worker_id():
    return f"{socket.gethostname()}:{os.getpid()}"


def _evaluate_one(evaluate, genome):
    """Run in a worker: evaluate one genome, return ``(record dict, worker id)``."""
    result = evaluate(genome)
    if hasattr(result, "to_dict"):
        record = result.to_dict()
    else:
        record = {"genome": str(genome), "fitness": tuple(result), "status": "ok"}
    record["fitness"] = tuple(record["fitness"])
    return record, _worker_id()


def _progress(generation, done, total):
    if total and sys.stderr.isatty():
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\rgen {generation:3d} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def evaluate_population(individuals, toolbox, cache=None, generation=None):
    """Give every individual with an invalid fitness its fitness.

    Architectures found in ``cache`` are not trained again; distinct new ones
    are mapped with ``toolbox.map`` and each record is put in the cache (and
    its store) as soon as it arrives. When the toolbox has a ``cost``
    function (an estimate of a genome's training cost, such as
    :meth:`deap_cnn.SearchSpace.cost`), the most expensive are sent first.
    Returns ``(trained, cache_hits, failed)``.
    """
    cache = EvaluationCache() if cache is None else cache
    invalid = [ind for ind in individuals if not ind.fitness.valid]
    keys = [str(ind) for ind in invalid]
    todo = {}
    for key, ind in zip(keys, invalid):
        if key not in todo and cache.get(key) is None:
            todo[key] = ind
    cost = getattr(toolbox, "cost", None)
    if cost is not None:
        # Longest first: the workers then finish a generation nearly together
        # instead of one training the last large candidate while others wait.
        todo = dict(sorted(todo.items(), key=lambda item: -cost(item[1])))
    failed = 0
    _progress(generation, 0, len(todo))
    try:
        results = toolbox.map(partial(_evaluate_one, toolbox.evaluate), list(todo.values()))
        for done, (key, (record, worker)) in enumerate(zip(todo, results), start=1):
            record["genome"] = key
            cache.put(key, record, generation=generation, worker=worker)
            failed += record.get("status", "ok") != "ok"
            _progress(generation, done, len(todo))
    except LostWorkerError as lost:  # keep what finished before the loss: a resume will not train it again
        keys_todo = list(todo)
        for position, (record, worker) in sorted(lost.completed.items()):
            if cache.get(keys_todo[position]) is None:
                record["genome"] = keys_todo[position]
                cache.put(keys_todo[position], record, generation=generation, worker=worker)
        raise
    for key, ind in zip(keys, invalid):
        ind.fitness.values = cache.get(key)["fitness"]
    return len(todo), len(invalid) - len(todo), failed


def vary_cnn_ga(population, toolbox, cxpb, mutpb):
    """CNN-GA's offspring: parents by ``toolbox.select_mates``, crossover, then mutation.

    Offspring are clones; the fitness of each one that a variation touched is
    deleted, as ``deap.algorithms.varAnd`` does.
    """
    select_mates = getattr(toolbox, "select_mates", sel_binary_tournament)
    offspring = []
    while len(offspring) < len(population):
        first, second = map(toolbox.clone, select_mates(population, 2))
        if random.random() < cxpb:
            toolbox.mate(first, second)
            del first.fitness.values, second.fitness.values
        offspring += [first, second]
    offspring = offspring[: len(population)]
    for child in offspring:
        if random.random() < mutpb:
            toolbox.mutate(child)
            del child.fitness.values
    return offspring


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
    :func:`deap_cnn.run.resume` does it. The logbook records per generation
    the trainings run (``nevals``), the ``cache_hits``, the ``failed``
    candidates, and the wall and evaluation ``seconds``.

    ``evaluate_population`` may replace :func:`evaluate_population` with a
    function of the same signature and return value, e.g.
    :class:`deap_cnn.halving.SuccessiveHalving`.
    """
    cache = EvaluationCache() if cache is None else cache
    if logbook is None:
        logbook = tools.Logbook()
        logbook.header = ["gen", "nevals", "cache_hits", "failed", "seconds", "eval_seconds"] + (
            stats.fields if stats else []
        )
    elif verbose and len(logbook):
        print(logbook.stream)

    for gen in range(start_gen, ngen + 1):
        started = time.perf_counter()
        if gen == 0:
            candidates = population
        else:
            candidates = vary_cnn_ga(population, toolbox, cxpb, mutpb)
        eval_started = time.perf_counter()
        trained, hits, failed = evaluate_population(candidates, toolbox, cache, generation=gen)
        eval_seconds = time.perf_counter() - eval_started
        if gen > 0:
            # Environmental selection may pick one individual twice: give each slot its own copy.
            population[:] = [toolbox.clone(ind) for ind in toolbox.select(population + candidates, len(population))]
        if halloffame is not None:
            halloffame.update(population)
        record = stats.compile(population) if stats else {}
        logbook.record(
            gen=gen,
            nevals=trained,
            cache_hits=hits,
            failed=failed,
            seconds=round(time.perf_counter() - started, 3),
            eval_seconds=round(eval_seconds, 3),
            **record,
        )
        if checkpoint is not None:
            save_checkpoint(checkpoint, population=population, generation=gen, halloffame=halloffame, logbook=logbook)
        if verbose:
            print(logbook.stream)
    return population, logbook


def start_or_resume(toolbox, n, checkpoint, resume=False, seed=None, halloffame_size=5):
    """What :func:`ea_cnn_ga` starts from: ``(population, halloffame, logbook, start_gen)``.

    With ``resume`` and a checkpoint at ``checkpoint``, the checkpoint's
    state, its random states restored, so the run goes on as if never
    stopped. Otherwise a new population of ``n`` from ``toolbox.population``,
    drawn after seeding :mod:`random` with ``seed`` (a run killed before its
    first checkpoint thus starts again the same way, and its stored
    evaluations are cache hits).
    """
    if resume and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint)
        restore_random_state(state["random_state"])
        return state["population"], state["halloffame"], state["logbook"], state["generation"] + 1
    if seed is not None:
        random.seed(seed)
    return toolbox.population(n=n), tools.HallOfFame(halloffame_size), None, 0
