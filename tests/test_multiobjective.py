"""NSGA-II over CNN-GA genomes: known fronts, the dominance tournament, the objective wrapper, saved fronts."""

import pickle
import random
import sqlite3
import zlib

import pytest
from deap import tools

import deap_cnn
from deap_cnn.families import get_family
from deap_cnn.runs.plots import plot_front
from deap_cnn.runs.store import RECORD_FIELDS, ResultsStore
from deap_cnn.search.nsga2 import (
    individual_type,
    sel_dominance_tournament,
)
from deap_cnn.search.objectives import WORST_SIZE, Objectives, check_objectives
from deap_cnn.search.strategies import Budget, SearchContext, get_strategy
from deap_cnn.training.settings import EvaluationRecord, TrainSettings

SPACE = deap_cnn.SearchSpace(input_shape=(1, 28, 28), n_classes=10, widths=(4, 8), max_skip_units=3)
Individual = individual_type(("accuracy", "parameters"))

# Hand-made (accuracy, parameters): the first front is A, B, C, F.
POINTS = {
    "A": (0.90, 100.0),
    "B": (0.80, 50.0),
    "C": (0.70, 10.0),
    "D": (0.85, 120.0),  # dominated by A
    "E": (0.60, 60.0),  # dominated by B and by C
    "F": (0.95, 500.0),
    "G": (0.50, 600.0),  # dominated by everyone
}


def hand_made(names=POINTS):
    population = []
    for n, name in enumerate(names):
        ind = Individual(deap_cnn.Genome([deap_cnn.SkipGene(4 + n)]))
        ind.fitness.values = POINTS[name]
        ind.name = name
        population.append(ind)
    return population


class FakeEvaluator:
    """Accuracy and size per genome without training; picklable (module level)."""

    def __init__(self, fail=()):
        self.settings = TrainSettings(epochs=1)
        self.fail = set(fail)

    def fingerprint(self):
        return "fake"

    def record(self, genome):
        key = str(genome)
        if key in self.fail:
            return EvaluationRecord(genome=key, fitness=(0.0,), status="failed", error="boom")
        widths = [g.width for g in genome if isinstance(g, deap_cnn.SkipGene)]
        parameters = sum(w * w * 18 for w in widths)
        accuracy = min(0.99, 0.3 + 0.4 * len(widths) / 3 + zlib.crc32(key.encode()) % 100 / 1000)
        return EvaluationRecord(
            genome=key,
            fitness=(accuracy,),
            val_accuracy=[accuracy],
            parameters=parameters,
            flops=parameters * 700,
            epochs=1,
        )


def test_selnsga2_keeps_the_known_first_front():
    population = hand_made()
    fronts = tools.sortNondominated(population, len(population))
    assert sorted(ind.name for ind in fronts[0]) == ["A", "B", "C", "F"]
    chosen = tools.selNSGA2(population, 4)
    assert sorted(ind.name for ind in chosen) == ["A", "B", "C", "F"]
    chosen = tools.selNSGA2(population, 5)
    names = sorted(ind.name for ind in chosen)
    assert names[:3] == ["A", "B", "C"] and "F" in names and "G" not in names
    front = tools.ParetoFront()
    front.update(population)
    assert sorted(ind.name for ind in front) == ["A", "B", "C", "F"]


def test_dominance_tournament_prefers_the_dominating_individual():
    rng = random.Random(0)
    better, worse = hand_made(["A", "D"])
    chosen = sel_dominance_tournament([better, worse], 50, rng=rng)
    assert all(ind is better for ind in chosen)


def test_dominance_tournament_prefers_the_better_front_then_less_crowding():
    rng = random.Random(1)
    population = hand_made(["A", "B", "C", "G"])
    chosen = sel_dominance_tournament(population, 300, rng=rng)
    counts = {name: sum(ind.name == name for ind in chosen) for name in "ABCG"}
    assert counts["G"] == 0  # dominated: loses every tournament
    # B, in the middle of the front, is more crowded than the end points A and C:
    # it wins only against G.
    assert counts["A"] > counts["B"] and counts["C"] > counts["B"] > 0
    assert len(sel_dominance_tournament(population[:1], 3)) == 3


def test_objective_wrapper_builds_store_ready_records(tmp_path):
    objective = Objectives("accuracy", "parameters").wrap(FakeEvaluator(fail={"S8-S8"}))
    genome = deap_cnn.Genome.from_string("S4-Pmax-S8")
    record = objective.record(genome)
    assert record.fitness == (FakeEvaluator().record(genome).fitness[0], 4 * 4 * 18 + 8 * 8 * 18)
    assert set(RECORD_FIELDS) <= set(record.to_dict())
    failed = objective.record(deap_cnn.Genome.from_string("S8-S8"))
    assert failed.fitness == (0.0, WORST_SIZE)
    flops = Objectives("accuracy", "flops").wrap(FakeEvaluator())(deap_cnn.Genome.from_string("S4"))
    assert flops[1] == 4 * 4 * 18 * 700
    with ResultsStore(tmp_path / "r.sqlite", fingerprint=objective.fingerprint()) as store:
        store.add(record)
        assert store.lookup("S4-Pmax-S8")["fitness"] == record.fitness
    clone = pickle.loads(pickle.dumps(objective))
    assert clone(deap_cnn.Genome.from_string("S4")) == objective(deap_cnn.Genome.from_string("S4"))
    assert objective.fingerprint() != Objectives("accuracy", "flops").wrap(FakeEvaluator()).fingerprint()


def test_objectives_are_checked():
    assert check_objectives(["accuracy", "flops"]) == ("accuracy", "flops")
    assert check_objectives("loss") == ("loss",)
    for bad in (
        ("parameters", "accuracy"),
        ("accuracy", "parameters", "parameters"),
        ("accuracy", "depth"),
    ):
        with pytest.raises(ValueError, match="objective"):
            check_objectives(bad)
    with pytest.raises(TypeError, match="record"):
        Objectives("accuracy", "parameters").wrap(lambda genome: (0.5,))


def test_nsga2_through_the_cnn_ga_loop_returns_a_true_front():
    objectives = Objectives("accuracy", "parameters")
    objective = objectives.wrap(FakeEvaluator())
    population = []
    context = SearchContext(weights=objectives.weights, seed=2, callback=lambda gen, pop, *_: population.append(pop))
    outcome = get_strategy("nsga2").run(get_family("cnn-ga"), SPACE, objective.record, Budget(8, 4), context)
    population = population[-1]
    front, logbook = outcome.best, outcome.logbook
    assert len(population) == 8 and logbook.select("gen") == [0, 1, 2, 3, 4]
    assert len(front) >= 2
    assert all(SPACE.is_valid(ind) for ind in front)
    members = list(front)
    for a in members:
        assert not any(b.fitness.dominates(a.fitness) for b in members)
    # The last population's own first front is covered by the hall of fame.
    first = tools.sortNondominated(population, len(population), first_front_only=True)[0]
    front_values = {ind.fitness.values for ind in members}
    assert all(ind.fitness.values in front_values for ind in first)


def test_store_saves_and_replaces_the_front(tmp_path):
    path = tmp_path / "results.sqlite"
    population = hand_made()
    with ResultsStore(path, fingerprint="mo") as store:
        assert store.front() == []
        store.save_front(population[:2], ("accuracy", "parameters"))
        store.save_front([("S4-S8", (0.7, 12.0))], ("accuracy", "parameters"))
        assert store.front() == [{"genome": "S4-S8", "fitness": (0.7, 12.0), "objectives": ("accuracy", "parameters")}]
        with pytest.raises(ValueError, match="2 objectives"):
            store.save_front([("S4", (0.7, 1.0, 2.0))], ("accuracy", "parameters"))
    with ResultsStore(path, fingerprint="other") as other:
        assert other.front() == []
    plot = tmp_path / "front.png"
    plot_front(population, ("accuracy", "parameters"), plot, evaluated=population)
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_nsga2_run_saves_front_and_plot(tmp_path):
    from deap_cnn.runs.config import SearchConfig
    from deap_cnn.runs.runner import run_search

    out = tmp_path / "run"
    config = SearchConfig(
        strategy="nsga2",
        objectives=("accuracy", "parameters"),
        population=4,
        generations=1,
        epochs=1,
        max_batches=2,
        batch_size=32,
        widths=(4, 8),
        max_skip_units=3,
        seed=1,
        final_epochs=0,
        out=str(out),
    )
    summary = run_search(config, map_function=map, verbose=False)
    assert (out / "front.png").read_bytes()[:4] == b"\x89PNG"
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT genome, fitness FROM pareto_front ORDER BY position").fetchall()
        evaluated = db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    assert [genome for genome, _ in rows] == [row["genome"] for row in summary["front"]]
    assert evaluated == summary["evaluations"] and 4 <= evaluated <= 8
    accuracies = [row["accuracy"] for row in summary["front"]]
    parameters = [row["parameters"] for row in summary["front"]]
    # Along a front sorted by falling accuracy, a less accurate member must be no larger (else it is dominated).
    assert accuracies == sorted(accuracies, reverse=True)
    assert all(later <= earlier for earlier, later in zip(parameters, parameters[1:], strict=False))
