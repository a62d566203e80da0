"""Aging (regularized) evolution, asynchronous and steady-state (Real et al. 2019, "Regularized Evolution").

The population is a queue ordered by age. Each time any evaluation
finishes, the finished individual joins the population at the young end, the
oldest member dies when the population exceeds its size, and one child is
bred to take the freed worker: ``sample_size`` members drawn at random, the
best of them cloned and mutated (no crossover, as in the paper). The workers
are never left waiting for a generation to end.

Evaluations go through an engine's ``submit`` and ``as_completed``
(:mod:`deap_cnn.engines`), ``engine.workers`` of them in flight at once.
A child identical to one still training waits for that training's result
instead of training again. Every finished evaluation is put in the cache
(and its store) at once and followed by an atomic checkpoint: population
with ages, history, the genomes still in flight and the random states. A
resume submits the in-flight genomes again; those whose records reached the
store before the kill come back as cache hits, so nothing is lost or trained
twice, and a seeded serial run resumed after a kill ends as the uninterrupted
run does.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections import deque
from functools import partial

from deap import tools

from ..training.lineage import evaluation_key
from .cache import EvaluationCache
from .evaluation import _evaluate_one, store_record
from .inheritance import set_parent

__all__ = ["default_sample_size", "breed_aging_child", "aging_evolution"]

FORMAT = "deap_cnn.aging/1"


def default_sample_size(population_size: int) -> int:
    """A quarter of the population, at least two (a tournament needs a choice)."""
    return max(2, population_size // 4)


def breed_aging_child(population, toolbox, sample_size, rng=random):
    """One child: the best of ``sample_size`` members drawn without replacement, cloned and mutated.

    Returns ``(child, parent)``; the child's fitness is deleted.
    """
    sample = rng.sample(list(population), min(sample_size, len(population)))
    parent = max(sample, key=lambda ind: ind.fitness)
    child = toolbox.clone(parent)
    (child,) = toolbox.mutate(child)
    del child.fitness.values
    return child, parent


class _Run:
    """The state of one aging run: all of it goes into every checkpoint."""

    def __init__(self, population_size, halloffame):
        self.population = deque()  # oldest first
        self.born = deque()  # each member's birth: the count of evaluations finished when it joined
        self.in_flight = []  # individuals submitted and not yet finished, in submission order
        self.history = []  # (evaluation key, fitness) of every finished evaluation, in order
        self.bred = 0  # individuals made (initial random ones included)
        self.trained = self.hits = self.failed = 0
        self.halloffame = halloffame
        self.logbook = None
        self.seconds = 0.0
        self.row_started = (0, 0, 0)  # trained, hits, failed when the current logbook row began
        self.population_size = population_size

    def state(self):
        return {
            "population": list(self.population),
            "born": list(self.born),
            "in_flight": list(self.in_flight),
            "history": list(self.history),
            "bred": self.bred,
            "trained": self.trained,
            "hits": self.hits,
            "failed": self.failed,
            "halloffame": self.halloffame,
            "logbook": self.logbook,
            "seconds": self.seconds,
            "row_started": self.row_started,
        }

    @classmethod
    def from_state(cls, population_size, state):
        run = cls(population_size, state["halloffame"])
        run.population, run.born = deque(state["population"]), deque(state["born"])
        run.in_flight, run.history = list(state["in_flight"]), list(state["history"])
        run.bred, run.trained, run.hits, run.failed = state["bred"], state["trained"], state["hits"], state["failed"]
        run.logbook, run.seconds, run.row_started = state["logbook"], state["seconds"], state["row_started"]
        return run

    def join(self, individual):
        """``individual`` joins as the youngest; the oldest dies once the population is over size."""
        self.population.append(individual)
        self.born.append(len(self.history))
        if len(self.population) > self.population_size:
            self.population.popleft()
            self.born.popleft()


def _load(checkpoint):
    from ..runs.checkpoint import CheckpointError, load_checkpoint, restore_random_state

    state = load_checkpoint(checkpoint)
    if state.get("strategy") != FORMAT:
        raise CheckpointError(
            f"{checkpoint} was written by another strategy, not aging evolution: resume it with its own strategy"
        )
    restore_random_state(state["random_state"])
    return state


def aging_evolution(
    toolbox,
    population_size,
    trainings,
    engine=None,
    sample_size=None,
    seconds=None,
    cache=None,
    halloffame=None,
    stats=None,
    checkpoint=None,
    seed=None,
    weights_folder=None,
    verbose=False,
    callback=None,
):
    """Run aging evolution until ``trainings`` individuals were evaluated (or ``seconds`` passed).

    ``toolbox`` needs ``individual``, ``mutate``, ``clone`` and ``evaluate``
    (a family's toolbox has them). ``engine`` gives ``submit``,
    ``as_completed`` and ``workers`` (default: a serial engine). The first
    ``population_size`` individuals are random; after that every finished
    evaluation frees a worker for a child of :func:`breed_aging_child`.
    ``weights_folder`` (a :class:`~deap_cnn.search.inheritance.WeightsFolder`)
    makes children start from their parent's trained weights.
    ``callback(evaluations, population, halloffame, logbook)`` runs after
    every finished evaluation (a run refreshes its report there); with
    ``verbose`` each trained candidate gets one line on stderr.

    Returns ``(population, logbook, run)``: the final population (oldest
    first), a logbook with one row per ``population_size`` finished
    evaluations (``gen``, ``nevals``, ``cache_hits``, ``failed`` and the
    population's ``stats``) and the run's state (``history``, ``trained``).
    """
    from ..runs.checkpoint import save_checkpoint

    if engine is None:
        from ..engines import make_engine

        engine = make_engine("serial")
    cache = EvaluationCache() if cache is None else cache
    sample_size = default_sample_size(population_size) if sample_size is None else sample_size
    if sample_size < 1:
        raise ValueError(f"sample_size must be at least 1, got {sample_size!r}")
    if checkpoint is not None and os.path.exists(checkpoint):
        run = _Run.from_state(population_size, _load(checkpoint))
    else:
        if seed is not None:
            random.seed(seed)
        run = _Run(population_size, tools.HallOfFame(5) if halloffame is None else halloffame)
    if run.logbook is None:
        run.logbook = tools.Logbook()
        run.logbook.header = ["gen", "nevals", "cache_hits", "failed", "seconds"] + (stats.fields if stats else [])
    started = time.perf_counter() - run.seconds
    evaluate = partial(_evaluate_one, toolbox.evaluate)
    workers = max(1, int(getattr(engine, "workers", 1)))

    def save():
        if checkpoint is not None:
            run.seconds = time.perf_counter() - started
            save_checkpoint(checkpoint, strategy=FORMAT, **run.state())

    def breed():
        if run.bred < population_size:
            child = toolbox.individual()
        elif run.population:
            child, parent = breed_aging_child(run.population, toolbox, sample_size)
            if weights_folder is not None:
                set_parent(child, parent, weights_folder)
        else:
            return None  # every initial individual is still in flight: wait for one
        run.bred += 1
        return child

    def out_of_time():
        return seconds is not None and time.perf_counter() - started >= seconds

    futures = {}  # future -> individual, for this process's submissions
    ready = deque()  # (individual, record, worker) finished without training: cache hits
    submitted = set()  # ids of in-flight individuals already sent (a resume sends them all again)
    waiting = {}  # evaluation key in training -> later individuals of that key, answered when it finishes

    def send(individual):
        key = evaluation_key(individual)
        record = cache.get(key)
        if record is not None:
            ready.append((individual, record, None))
        elif key in waiting:  # an identical child is training: share its result instead of training again
            waiting[key].append(individual)
        else:
            futures[engine.submit(evaluate, individual)] = individual
            waiting[key] = []
        submitted.add(id(individual))

    while True:
        bred_now = []
        while len(run.in_flight) < workers and run.bred < trainings and not out_of_time():
            child = breed()
            if child is None:
                break
            run.in_flight.append(child)
            bred_now.append(child)
        if bred_now and run.history:
            # The children and the random state after breeding them: a resume sends the same ones. Before
            # the first result there is nothing to keep (a seeded rerun breeds the same), and a crash then
            # leaves the folder to the same command again.
            save()
        for individual in list(run.in_flight):
            if id(individual) not in submitted:
                send(individual)
        if ready:
            individual, record, worker = ready.popleft()
            hit = True
        elif futures:
            future = next(iter(engine.as_completed(list(futures))))
            individual = futures.pop(future)
            record, worker = future.result()
            hit = False
        else:
            break
        key = evaluation_key(individual)
        if not hit:
            if cache.get(key) is None:  # an identical child finished first: keep one row per evaluation
                store_record(cache, key, record, generation=len(run.history) // population_size, worker=worker)
            ready.extend((other, record, None) for other in waiting.pop(key, ()))
            run.trained += 1
            run.failed += record.get("status", "ok") != "ok"
        else:
            run.hits += 1
        individual.fitness.values = tuple(record["fitness"])
        del run.in_flight[next(i for i, other in enumerate(run.in_flight) if other is individual)]
        submitted.discard(id(individual))
        run.join(individual)
        run.history.append((key, individual.fitness.values))
        run.halloffame.update([individual])
        if len(run.history) % population_size == 0:
            _log_row(run, stats, started)
            if verbose:
                print(run.logbook.stream, flush=True)
        if weights_folder is not None:
            weights_folder.keep_only(list(run.population) + list(run.halloffame), run.in_flight)
        save()
        if verbose and not hit:
            fitness = ", ".join(f"{value:.4g}" for value in individual.fitness.values)
            print(f"evaluation {len(run.history)}/{trainings} {key}: fitness {fitness}"
                  f"{'' if record.get('status', 'ok') == 'ok' else ' (' + record['status'] + ')'}",
                  file=sys.stderr, flush=True)
        if callback is not None:
            callback(len(run.history), run.population, run.halloffame, run.logbook)
    if run.row_started != (run.trained, run.hits, run.failed):  # a last, partial row
        _log_row(run, stats, started)
        save()
    return list(run.population), run.logbook, run


def _log_row(run, stats, started):
    """One logbook row for the evaluations finished since the last row, with the population's statistics."""
    record = stats.compile(run.population) if stats else {}
    trained, hits, failed = run.row_started
    run.logbook.record(
        gen=(len(run.history) - 1) // run.population_size,
        nevals=run.trained - trained,
        cache_hits=run.hits - hits,
        failed=run.failed - failed,
        seconds=round(time.perf_counter() - started, 3),
        **record,
    )
    run.row_started = (run.trained, run.hits, run.failed)
