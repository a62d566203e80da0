"""Evaluating a population: distinct new genomes to the workers (longest first), records back into the cache."""

from __future__ import annotations

import os
import socket
import sys
from functools import partial

from ..engines import LostWorkerError
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
    its store) as soon as it arrives. Keys are :func:`evaluation_key`: a
    child that inherits its parent's weights is a different evaluation from
    the same genome trained from scratch. When the toolbox has a ``cost``
    function (an estimate of a genome's training cost, such as
    :meth:`deap_cnn.SearchSpace.cost`), the most expensive are sent first.
    Returns ``(trained, cache_hits, failed)``.
    """
    cache = EvaluationCache() if cache is None else cache
    invalid = [ind for ind in individuals if not ind.fitness.valid]
    keys = [evaluation_key(ind) for ind in invalid]
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
            store_record(cache, key, record, generation=generation, worker=worker)
            failed += record.get("status", "ok") != "ok"
            _progress(generation, done, len(todo))
    except LostWorkerError as lost:  # keep what finished before the loss: a resume will not train it again
        keys_todo = list(todo)
        for position, (record, worker) in sorted(lost.completed.items()):
            if cache.get(keys_todo[position]) is None:
                store_record(cache, keys_todo[position], record, generation=generation, worker=worker)
        raise
    for key, ind in zip(keys, invalid):
        ind.fitness.values = cache.get(key)["fitness"]
    return len(todo), len(invalid) - len(todo), failed
