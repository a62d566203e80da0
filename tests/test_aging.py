"""Aging evolution: a population of fixed size where the oldest dies, busy workers, and resume after a kill."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from deap_cnn.families import get_family
from deap_cnn.families.cnn_ga.genome import SkipGene
from deap_cnn.runs.checkpoint import CheckpointError, save_checkpoint
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.aging import (
    AgingProposer,
    aging_evolution,
    breed_aging_child,
    default_sample_size,
)
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.steady import fitness_stats
from deap_cnn.search.strategies import (
    Budget,
    SearchContext,
    StrategyError,
    get_strategy,
)
from deap_cnn.training.lineage import evaluation_key

ROOT = Path(__file__).resolve().parent.parent


def toy_fitness(genome):
    """A fitness that depends on the genome only, with many distinct values (no training)."""
    return (int(hashlib.sha256(str(genome).encode()).hexdigest()[:6], 16) / 16**6,)


def toolbox_for(evaluate=toy_fitness):
    family = get_family("cnn-ga")
    space = family.space((1, 28, 28), 10, {"widths": (4, 8, 16), "max_skip_units": 4})
    return family.toolbox(space, evaluate)


def run_toy(tmp_path=None, population=4, trainings=14, engine=None, evaluate=toy_fitness, store=None, **options):
    checkpoint = None if tmp_path is None else str(tmp_path / "checkpoint.pkl")
    return aging_evolution(
        toolbox_for(evaluate), population, trainings, engine=engine, stats=fitness_stats(), seed=11,
        checkpoint=checkpoint, cache=EvaluationCache(store), **options,
    )  # fmt: skip


def test_population_keeps_its_size_and_the_oldest_dies():
    population, logbook, run = run_toy(population=4, trainings=14)
    assert len(run.history) == 14 and len(population) == 4
    # Each finished evaluation joined as the youngest and the oldest left: the population is the last four.
    assert [evaluation_key(ind) for ind in population] == [key for key, _ in run.history[-4:]]
    assert list(run.proposer.born) == [10, 11, 12, 13]
    assert sum(logbook.select("nevals")) + sum(logbook.select("cache_hits")) == 14
    assert logbook.select("gen") == [0, 1, 2, 3]  # one row per population of evaluations, the last one partial
    assert run.trained == len({key for key, _ in run.history})  # every distinct genome trained once, repeats cached


def test_the_oldest_dies_even_when_it_is_the_best():
    best_first = {"n": 0}

    def first_is_best(genome):
        best_first["n"] += 1
        return (1.0,) if best_first["n"] == 1 else toy_fitness(genome)

    population, _, run = run_toy(population=3, trainings=9, evaluate=first_is_best)
    first_key = run.history[0][0]
    assert run.history[0][1] == (1.0,) and first_key not in {evaluation_key(ind) for ind in population}
    assert str(run.halloffame[0]) == first_key  # gone from the population, kept by the hall of fame


def test_a_child_is_a_mutant_of_the_best_of_its_sample():
    toolbox = toolbox_for()
    random.seed(2)
    population = toolbox.population(n=5)
    for ind in population:
        ind.fitness.values = toy_fitness(ind)
    best = max(population, key=lambda ind: ind.fitness)
    child, parent = breed_aging_child(population, toolbox, sample_size=5)  # the whole population: the best wins
    assert parent is best and not child.fitness.valid and child is not parent
    assert default_sample_size(3) == 2 and default_sample_size(40) == 20
    with pytest.raises(ValueError, match="sample_size"):
        run_toy(sample_size=0)


def test_a_double_tournament_prefers_the_cheaper_of_two_good_parents():
    toolbox = toolbox_for()
    random.seed(3)
    population = toolbox.population(n=6)
    for cost, ind in enumerate(population, start=1):
        ind.fitness.values = toy_fitness(ind)
        ind.cost = 1000 * cost
    ranked = sorted(population, key=lambda ind: ind.fitness, reverse=True)

    def parents(cheaper, seed, sample_size=3, draws=200):
        rng = random.Random(seed)
        return [breed_aging_child(population, toolbox, sample_size, rng=rng, cheaper=cheaper)[1] for _ in range(draws)]

    plain, cheap = parents(0.0, 7), parents(1.0, 7)
    assert all(parent in ranked[:4] for parent in plain)  # a tournament of 3 of 6 never picks the two worst
    # The cheaper of two winners, so never a member both winners could beat; on average a cheaper parent.
    assert all(parent in ranked[:4] for parent in cheap)
    assert sum(p.cost for p in cheap) < sum(p.cost for p in plain)
    # Off (0), it draws exactly what aging always drew: a seeded run repeats as before.
    rng = random.Random(7)
    before = [max(rng.sample(population, 3), key=lambda ind: ind.fitness) for _ in range(200)]
    assert plain == before
    # A clear winner (the whole population in each tournament) stays the parent; unknown costs change nothing.
    assert all(parent is ranked[0] for parent in parents(1.0, 8, sample_size=6, draws=20))
    for ind in population:
        del ind.cost
    rng, expected = random.Random(7), []
    for _ in range(200):  # no cost known: the first tournament's winner, whatever the second drew
        expected.append(max(rng.sample(population, 3), key=lambda ind: ind.fitness))
        rng.sample(population, 3)
    assert all(p is q for p, q in zip(parents(1.0, 7), expected, strict=True))
    with pytest.raises(ValueError, match="cheaper must be a probability"):
        AgingProposer(4, cheaper=1.5)


class LastInFirstOut:
    """An engine with ``workers`` slots whose evaluations finish newest first, to test asynchronous bookkeeping."""

    def __init__(self, workers):
        self.workers = workers
        self.pending = []  # (future, func, args)
        self.most_in_flight = 0
        self.in_flight_at_completion = []

    def submit(self, func, *args):
        future = Future()
        self.pending.append((future, func, args))
        self.most_in_flight = max(self.most_in_flight, len(self.pending))
        return future

    def as_completed(self, futures, timeout=None):
        while True:
            wanted = [entry for entry in self.pending if entry[0] in set(futures)]
            if not wanted:
                return
            future, func, args = wanted[-1]
            self.in_flight_at_completion.append(len(self.pending))
            self.pending.remove(wanted[-1])
            future.set_result(func(*args))
            yield future


def test_every_worker_is_kept_busy_and_a_child_is_bred_per_finished_evaluation():
    engine = LastInFirstOut(workers=3)
    population, _, run = run_toy(population=4, trainings=16, engine=engine)
    assert engine.most_in_flight == 3
    counts = engine.in_flight_at_completion
    # Until the budget runs out, three evaluations are out whenever one finishes.
    assert counts[: len(counts) - 3] == [3] * (len(counts) - 3) and counts[-3:] == [3, 2, 1]
    assert len(run.history) == 16 and len(population) == 4 and not run.in_flight


def test_identical_children_in_flight_train_once_and_share_the_result():
    calls = []

    def counted(genome):
        calls.append(str(genome))
        return toy_fitness(genome)

    toolbox = toolbox_for(counted)
    draw = toolbox.individual

    def one_unit():  # every initial individual is the same genome
        individual = draw()
        individual[:] = [SkipGene(8)]
        return individual

    toolbox.register("individual", one_unit)
    engine = LastInFirstOut(workers=3)
    _, logbook, run = aging_evolution(toolbox, 3, 9, engine=engine, seed=3, cache=EvaluationCache())
    assert calls.count("S8") == 1 and len(calls) == len(set(calls)) == run.trained  # none trained twice
    assert run.trained == 9 and run.hits >= 2  # the two other copies of S8 got its result while it trained
    assert sum(logbook.select("cache_hits")) == run.hits and len(run.history) == run.trained + run.hits


class Killed(BaseException):
    """Stands for a SIGKILL in the middle of a training: nothing after it runs."""


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    (tmp_path / "w").mkdir()
    whole_store = ResultsStore(tmp_path / "whole.sqlite")
    whole, _, whole_run = run_toy(tmp_path / "w", population=4, trainings=15, store=whole_store)
    calls = {"n": 0}

    def dies_at_the_seventh(genome):
        calls["n"] += 1
        if calls["n"] == 7:
            raise Killed()
        return toy_fitness(genome)

    (tmp_path / "p").mkdir()
    store = ResultsStore(tmp_path / "part.sqlite")
    with pytest.raises(Killed):
        run_toy(tmp_path / "p", population=4, trainings=15, store=store, evaluate=dies_at_the_seventh)
    assert len(store) == 6
    resumed, _, resumed_run = run_toy(tmp_path / "p", population=4, trainings=15, store=store)
    assert resumed_run.history == whole_run.history
    assert [str(ind) for ind in resumed] == [str(ind) for ind in whole]
    rows = [(r["genome"], r["fitness"]) for r in store.records()]
    assert rows == [(r["genome"], r["fitness"]) for r in whole_store.records()]  # nothing lost, nothing twice
    # Resuming a finished run trains nothing and changes nothing.
    _, logbook, again_run = run_toy(tmp_path / "p", population=4, trainings=15, store=store)
    assert again_run.history == whole_run.history and len(store) == len(rows)
    assert len(logbook) == 4


def test_a_checkpoint_of_another_strategy_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pkl"
    save_checkpoint(path, population=[], generation=0, halloffame=None, logbook=None)
    with pytest.raises(CheckpointError, match="another strategy"):
        run_toy(tmp_path)


def test_aging_is_a_registered_single_objective_strategy_with_asynchronous_halving():
    strategy = get_strategy("aging")
    family = get_family("cnn-ga")
    strategy.check(family, 1, halving=True)  # rungs promote as results arrive (search/steady.py)
    assert strategy.asynchronous
    with pytest.raises(StrategyError, match="nsga2"):
        strategy.check(family, 2)
    space = family.space((1, 28, 28), 10, {"widths": (4, 8)})
    outcome = strategy.run(family, space, toy_fitness, Budget(population=3, generations=2), SearchContext(seed=1))
    assert outcome.trainings <= 9 and len(outcome.history) == 9 and outcome.stopped == "trainings"
    assert outcome.best[0].fitness.values == max(f for _, f in outcome.history)


def environment():
    return dict(os.environ, PYTHONPATH=str(ROOT), DEAP_CNN_DEVICE="cpu")


def cli(*args):
    return [sys.executable, "-m", "deap_cnn", *args]


TINY = ["--family", "cnn-ga", "--strategy", "aging", "--population", "3", "--generations", "3", "--epochs", "1",
        "--max-batches", "2", "--widths", "4", "8", "--max-skip-units", "2", "--final-epochs", "0", "--seed", "4"]  # fmt: skip


def stored(folder):
    path = Path(folder) / "results.sqlite"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT genome, fitness, parent FROM evaluations ORDER BY id").fetchall()
    except sqlite3.Error:
        return []


@pytest.mark.parametrize("inherit", [[], ["--inherit"]], ids=["scratch", "inherit"])
def test_a_sigkilled_aging_run_resumes_to_the_uninterrupted_result(tmp_path, inherit):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    done = subprocess.run(
        cli("search", *TINY, *inherit, "--out", str(reference)), capture_output=True, text=True, env=environment(),
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    total = len(stored(reference))
    process = subprocess.Popen(
        cli("search", *TINY, *inherit, "--out", str(interrupted)), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=environment(),
    )  # fmt: skip
    deadline = time.monotonic() + 240
    try:
        while len(stored(interrupted)) < 5 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before it could be killed; give it more generations"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = stored(interrupted)
    assert 5 <= len(before) < total
    done = subprocess.run(
        cli("resume", str(interrupted)), capture_output=True, text=True, env=environment(), timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    after = stored(interrupted)
    assert after[: len(before)] == before  # nothing lost
    assert sorted(after) == sorted(stored(reference))  # nothing repeated, nothing missing
    best = [json.loads((folder / "best.json").read_text()) for folder in (reference, interrupted)]
    assert (best[0]["genome"], best[0]["fitness"]) == (best[1]["genome"], best[1]["fitness"])
    if inherit:
        assert any(parent for _, _, parent in after)
        # Bounded: the weights of the population (3), the hall of fame (5) and nothing else.
        assert 0 < len(list((interrupted / "weights").glob("*.pt"))) <= 8


def test_aging_runs_asynchronously_under_scoop(tmp_path):
    out = tmp_path / "run"
    env = dict(environment(), DEAP_CNN_LOCAL_WORKERS="3")
    process = subprocess.Popen(
        [sys.executable, "-m", "scoop", "-n", "3", str(ROOT / "benchmarks" / "sample.py"), *TINY, "--inherit",
         "--generations", "2", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # SCOOP's launcher leaves workers behind when killed alone
            process.communicate()
    assert process.returncode == 0, stderr[-2000:]
    with sqlite3.connect(out / "results.sqlite") as db:
        workers = {row[0] for row in db.execute("SELECT worker FROM evaluations")}
        parents = [row[0] for row in db.execute("SELECT parent FROM evaluations WHERE inherited > 0")]
    assert len(workers) >= 2 and parents  # evaluations ran on several workers; children inherited
    assert json.loads((out / "best.json").read_text())["strategy"] == "aging"


def test_aging_runs_asynchronously_under_dask_with_inheritance(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "run"
    done = subprocess.run(
        cli("search", *TINY, "--inherit", "--engine", "dask", "--workers", "2", "--out", str(out)),
        capture_output=True, text=True, env=dict(environment(), DEAP_CNN_LOCAL_WORKERS="2"), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT genome, parent, worker FROM evaluations").fetchall()
        inherited = db.execute("SELECT COUNT(*) FROM evaluations WHERE inherited > 0").fetchone()[0]
    assert len(rows) == 3 + 3 * 3  # population 3, then 3 generations' worth of children, one per finished evaluation
    assert len({(genome, parent) for genome, parent, _ in rows}) == len(rows)  # none stored twice
    assert len({worker for *_, worker in rows}) == 2 and inherited  # both workers trained; children inherited
    assert json.loads((out / "best.json").read_text())["strategy"] == "aging"
