"""The CNN-GA loop, the evaluation cache, the results store and checkpoints, on a cheap fitness."""

import pickle
import random
import sqlite3

import numpy
import pytest
from deap import algorithms, base, creator, tools

import deap_cnn
from deap_cnn.runs.checkpoint import (
    CheckpointError,
    load_checkpoint,
    restore_random_state,
    save_checkpoint,
)
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.evaluation import evaluate_population
from deap_cnn.search.ga import ea_cnn_ga

if not hasattr(creator, "LoopFitness"):
    creator.create("LoopFitness", base.Fitness, weights=(1.0,))
    creator.create("LoopIndividual", deap_cnn.Genome, fitness=creator.LoopFitness)

SPACE = deap_cnn.SearchSpace(input_shape=(1, 28, 28), max_skip_units=6)


class CountingFitness:
    """A cheap deterministic fitness that counts its calls per genome."""

    def __init__(self):
        self.calls = {}

    def __call__(self, genome):
        key = str(genome)
        self.calls[key] = self.calls.get(key, 0) + 1
        return (sum(g.width for g in genome if isinstance(g, deap_cnn.SkipGene)) / 1000 - 0.1 * genome.pool_count,)


def make_toolbox(evaluate):
    toolbox = base.Toolbox()
    toolbox.register("individual", deap_cnn.init_genome, creator.LoopIndividual, SPACE)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", deap_cnn.cx_one_point, space=SPACE)
    toolbox.register("mutate", deap_cnn.mut_cnn_ga, space=SPACE)
    toolbox.register("select", deap_cnn.sel_environmental)
    toolbox.register("evaluate", evaluate)
    return toolbox


def run_loop(seed, ngen=4, **kwargs):
    random.seed(seed)
    fitness = CountingFitness()
    toolbox = make_toolbox(fitness)
    population = toolbox.population(n=8)
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("max", numpy.max)
    hof = tools.HallOfFame(1)
    population, logbook = ea_cnn_ga(
        population, toolbox, ngen=ngen, stats=stats, halloffame=hof, verbose=False, **kwargs
    )
    return population, logbook, hof, fitness


def test_loop_returns_valid_population_and_logbook():
    population, logbook, hof, _ = run_loop(seed=1)
    assert len(population) == 8
    assert all(SPACE.is_valid(ind) and ind.fitness.valid for ind in population)
    assert logbook.select("gen") == [0, 1, 2, 3, 4]
    # Elitism: the best fitness never drops from one generation to the next.
    best = logbook.select("max")
    assert all(later >= earlier for earlier, later in zip(best, best[1:], strict=False))
    assert hof[0].fitness.values[0] == best[-1]


def test_loop_is_reproducible_with_a_seed():
    first = run_loop(seed=7)
    second = run_loop(seed=7)
    assert [str(ind) for ind in first[0]] == [str(ind) for ind in second[0]]
    assert first[1].select("max") == second[1].select("max")


def test_cache_never_evaluates_an_architecture_twice():
    _, logbook, _, fitness = run_loop(seed=3, ngen=6)
    assert all(count == 1 for count in fitness.calls.values())
    assert sum(logbook.select("nevals")) == len(fitness.calls)
    assert sum(logbook.select("cache_hits")) > 0


def test_evaluate_population_counts_hits_and_dedupes_within_a_batch():
    fitness = CountingFitness()
    toolbox = make_toolbox(fitness)
    genome = deap_cnn.Genome.from_string("S64-Pmax-S128")
    twins = [creator.LoopIndividual(genome) for _ in range(3)]
    cache = EvaluationCache()
    assert evaluate_population(twins, toolbox, cache) == (1, 2, 0)
    assert fitness.calls == {"S64-Pmax-S128": 1}
    assert all(ind.fitness.values == twins[0].fitness.values for ind in twins)
    again = [creator.LoopIndividual(genome)]
    assert evaluate_population(again, toolbox, cache) == (0, 1, 0)


def test_store_has_a_row_per_evaluation(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultsStore(path, fingerprint="abc") as store:
        store.set_settings({"population": 8, "seed": 5})
        _, logbook, _, fitness = run_loop(seed=5, cache=EvaluationCache(store))
        assert len(store) == len(fitness.calls) == sum(logbook.select("nevals"))
        assert store.settings() == {"population": 8, "seed": 5}
    rows = sqlite3.connect(path).execute("SELECT genome, generation, worker, fitness FROM evaluations").fetchall()
    assert sorted(r[0] for r in rows) == sorted(fitness.calls)
    assert all(r[1] is not None and r[2] for r in rows)


def test_store_serves_only_its_own_fingerprint(tmp_path):
    path = tmp_path / "results.sqlite"
    record = {"genome": "S64", "fitness": (0.5,), "status": "ok", "val_accuracy": [0.4, 0.5]}
    with ResultsStore(path, fingerprint="a") as store:
        store.add(record, generation=0, worker="w")
        with pytest.raises(sqlite3.IntegrityError):
            store.add(dict(record, fitness=(0.9,)), generation=1, worker="w")  # a repeat is a bug
        assert store.lookup("S64")["fitness"] == (0.5,)
        assert store.lookup("S64")["val_accuracy"] == [0.4, 0.5]
    with ResultsStore(path, fingerprint="b") as other:
        assert other.lookup("S64") is None and len(other) == 0


def test_resume_from_checkpoint_matches_uninterrupted_run(tmp_path):
    reference, _, reference_hof, _ = run_loop(seed=11, ngen=5)
    path = tmp_path / "checkpoint.pkl"
    run_loop(seed=11, ngen=2, checkpoint=path)
    state = load_checkpoint(path)
    assert state["generation"] == 2
    restore_random_state(state["random_state"])
    toolbox = make_toolbox(CountingFitness())
    population, logbook = ea_cnn_ga(
        state["population"],
        toolbox,
        ngen=5,
        halloffame=state["halloffame"],
        logbook=state["logbook"],
        start_gen=state["generation"] + 1,
        verbose=False,
    )
    assert [str(ind) for ind in population] == [str(ind) for ind in reference]
    assert str(state["halloffame"][0]) == str(reference_hof[0])
    assert logbook.select("gen") == [0, 1, 2, 3, 4, 5]


def test_damaged_and_foreign_checkpoints_raise(tmp_path):
    damaged = tmp_path / "damaged.pkl"
    save_checkpoint(damaged, generation=1)
    damaged.write_bytes(damaged.read_bytes()[:20])
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(damaged)
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"generation": 3}')
    with pytest.raises(CheckpointError, match="not a deap_cnn checkpoint"):
        load_checkpoint(foreign)
    old = tmp_path / "old.pkl"
    old.write_bytes(pickle.dumps({"generation": 3}))
    with pytest.raises(CheckpointError, match="pickle checkpoint.*--trust-pickle-checkpoint"):
        load_checkpoint(old)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "absent.pkl")


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pkl"
    save_checkpoint(path, generation=1)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("deap_cnn.runs.checkpoint.os.replace", fail)
    with pytest.raises(CheckpointError, match="disk full"):
        save_checkpoint(path, generation=2)
    assert load_checkpoint(path)["generation"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pkl"]


def test_ea_simple_still_works_with_the_same_toolbox():
    random.seed(2)
    toolbox = make_toolbox(CountingFitness())
    population = toolbox.population(n=6)
    population, logbook = algorithms.eaSimple(population, toolbox, cxpb=0.9, mutpb=0.2, ngen=2, verbose=False)
    assert len(logbook) == 3
    assert all(SPACE.is_valid(ind) for ind in population)


def test_spawn_process_pool_map_gives_the_serial_result():
    import multiprocessing

    serial = run_loop(seed=4, ngen=2)
    random.seed(4)
    toolbox = make_toolbox(CountingFitness())
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        toolbox.register("map", pool.map)
        population = toolbox.population(n=8)
        population, _ = ea_cnn_ga(population, toolbox, ngen=2, verbose=False)
    assert [str(ind) for ind in population] == [str(ind) for ind in serial[0]]
    assert [ind.fitness.values for ind in population] == [ind.fitness.values for ind in serial[0]]


def test_most_expensive_candidates_are_sent_first():
    toolbox = make_toolbox(CountingFitness())
    toolbox.register("cost", SPACE.cost)
    sent = []

    def recording_map(function, items):
        sent.extend(str(item) for item in items)
        return map(function, items)

    toolbox.register("map", recording_map)
    texts = ["S64", "S256-S256", "S64-Pmax-S128", "S128-S256-Pmax-S64"]
    evaluate_population([creator.LoopIndividual(deap_cnn.Genome.from_string(t)) for t in texts], toolbox)
    costs = [SPACE.cost(deap_cnn.Genome.from_string(t)) for t in sent]
    assert sorted(sent) == sorted(texts) and costs == sorted(costs, reverse=True)
    assert SPACE.cost(deap_cnn.Genome.from_string("S64-S64")) > SPACE.cost(deap_cnn.Genome.from_string("S64-Pmax-S64"))
