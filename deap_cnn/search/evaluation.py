"""Evaluating a population: distinct new genomes to the workers (longest first), records back into the cache."""

from __future__ import annotations

import os
import socket
from functools import partial

from ..engines import Engine, LostWorkerError
from ..training.lineage import evaluation_key, split_key
from .cache import EvaluationCache

__all__ = ["scoop_map", "evaluate_population", "evaluation_key", "store_record"]


def scoop_map():
    """``(map, workers)``: the SCOOP engine's map and worker count under ``python -m scoop``, else ``(map, 1)``.

    Lets one script run both ways: ``python script.py`` evaluates serially,
    ``python -m scoop -n 4 script.py`` over four workers. The SCOOP engine
    raises :class:`~deap_cnn.engines.LostWorkerError` instead of hanging
    when a worker dies (:mod:`deap_cnn.engines.scoop_engine`).
    """
    from ..engines import current_scoop_or_serial

    engine = current_scoop_or_serial()
    return engine.map, engine.workers


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


def store_record(cache, key, record, generation=None, worker=None):
    """Put ``record`` in ``cache`` under ``key`` (an :func:`evaluation_key`), its genome and parent taken from the key."""
    record["genome"], record["parent"] = split_key(key)
    record.setdefault("inherited", 0)
    cache.put(key, record, generation=generation, worker=worker)


def _map(toolbox, func, items, on_result):
    """``toolbox.map(func, items)``, calling ``on_result(position, result)`` as each result arrives.

    An engine's ``map`` reports results itself; any other map (the builtin,
    SCOOP's ``futures.map``) is read lazily, in order.
    """
    mapper = toolbox.map
    engine = getattr(getattr(mapper, "func", mapper), "__self__", None)
    if isinstance(engine, Engine):
        return engine.map(func, items, on_result=on_result)
    results = []
    for position, result in enumerate(mapper(func, items)):
        results.append(result)
        on_result(position, result)
    return results


def evaluate_population(individuals, toolbox, cache=None, generation=None):
    """Give every individual with an invalid fitness its fitness.

    Architectures found in ``cache`` are not trained again; distinct new ones
    are mapped with ``toolbox.map`` and each record is put in the cache (and
    its store) as soon as it arrives. Keys are :func:`evaluation_key`: a
    child that inherits its parent's weights is a different evaluation from
    the same genome trained from scratch. When the toolbox has a ``cost``
    function (an estimate of a genome's training cost, such as
    :meth:`deap_cnn.SearchSpace.cost`), the most expensive are sent first;
    with a ``progress`` factory (:class:`~deap_cnn.search.progress.GenerationProgress`)
    each finished candidate is reported. Returns ``(trained, cache_hits, failed)``.
    """
    cache = EvaluationCache() if cache is None else cache
    invalid = [ind for ind in individuals if not ind.fitness.valid]
    keys = [evaluation_key(ind) for ind in invalid]
    todo = {}
    for key, ind in zip(keys, invalid, strict=True):
        if key not in todo and cache.get(key) is None:
            todo[key] = ind
    cost = getattr(toolbox, "cost", None)
    if cost is not None:
        # Longest first: the workers then finish a generation nearly together
        # instead of one training the last large candidate while others wait.
        todo = dict(sorted(todo.items(), key=lambda item: -cost(item[1])))
    keys_todo = list(todo)
    make_progress = getattr(toolbox, "progress", None)
    progress = None
    if make_progress is not None and todo:
        progress = make_progress(generation, [cost(ind) if cost else 1.0 for ind in todo.values()])

    def on_result(position, result):
        record, worker = result
        store_record(cache, keys_todo[position], record, generation=generation, worker=worker)
        if progress is not None:
            progress.done(position, record, worker)

    try:
        results = _map(toolbox, partial(_evaluate_one, toolbox.evaluate), list(todo.values()), on_result)
    except LostWorkerError as lost:  # keep what finished before the loss: a resume will not train it again
        for position, result in sorted(lost.completed.items()):
            if cache.get(keys_todo[position]) is None:
                on_result(position, result)
        raise
    finally:
        if progress is not None:
            progress.close()
    failed = sum(record.get("status", "ok") != "ok" for record, _ in results)
    for key, ind in zip(keys, invalid, strict=True):
        ind.fitness.values = cache.get(key)["fitness"]
    return len(todo), len(invalid) - len(todo), failed
