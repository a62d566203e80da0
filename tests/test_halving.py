"""Successive halving: losers train fewer epochs, winners rank above them, the store says how far each went."""

import random
import sqlite3
import zlib
from functools import partial

import pytest
from deap import base, creator, tools

import deap_cnn
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.ga import ea_cnn_ga
from deap_cnn.search.halving import SuccessiveHalving, halving_rungs, rung_evaluator
from deap_cnn.search.objectives import Objectives
from deap_cnn.training.evaluator import Evaluator
from deap_cnn.training.settings import EvaluationRecord, TrainSettings
from deap_cnn.training.sources import DataSource

if not hasattr(creator, "HalvingFitness"):
    creator.create("HalvingFitness", base.Fitness, weights=(1.0,))
    creator.create("HalvingIndividual", deap_cnn.Genome, fitness=creator.HalvingFitness)

SPACE = deap_cnn.SearchSpace(input_shape=(1, 28, 28), n_classes=10, widths=(4, 8), max_skip_units=3)


def quality(key):
    """A deterministic score in [0, 1) per genome."""
    return zlib.crc32(key.encode()) % 1000 / 1000


class FakeEvaluator:
    """Accuracy grows with epochs; every training is logged in ``calls`` (shared by rung copies)."""

    def __init__(self, epochs=3, table=None):
        self.settings = TrainSettings(epochs=epochs)
        self.table = table or {}
        self.calls = []

    def fingerprint(self):
        return "fake-" + self.settings.fingerprint()

    def record(self, genome):
        key, epochs = str(genome), self.settings.epochs
        self.calls.append((key, epochs))
        accuracy = self.table[key][epochs] if key in self.table else quality(key) * (1 - 0.5 / epochs)
        return EvaluationRecord(genome=key, fitness=(accuracy,), val_accuracy=[accuracy], epochs=epochs, seconds=0.01)


def distinct_genomes(n, seed=0):
    rng, found = random.Random(seed), {}
    while len(found) < n:
        genome = deap_cnn.Genome(deap_cnn.random_genome(SPACE, rng))
        found.setdefault(str(genome), genome)
    return list(found.values())


def individuals(genomes):
    return [creator.HalvingIndividual(g) for g in genomes]


def toolbox():
    box = base.Toolbox()
    box.register("map", map)
    return box


def test_halving_rungs():
    assert halving_rungs(3, 1 / 3) == (1, 3)
    assert halving_rungs(4, 1 / 2) == (1, 2, 4)
    assert halving_rungs(10, 1 / 3) == (1, 3, 10)
    assert halving_rungs(1, 1 / 2) == (1,)
    with pytest.raises(ValueError, match="eta"):
        halving_rungs(4, 1.5)
    with pytest.raises(ValueError, match="strictly increasing"):
        SuccessiveHalving(FakeEvaluator(), rungs=(3, 1))


def test_rung_evaluators_differ_only_in_epochs_and_fingerprint():
    evaluator = FakeEvaluator(epochs=3)
    one = rung_evaluator(evaluator, 1)
    assert one.settings.epochs == 1 and evaluator.settings.epochs == 3
    assert one.settings.lr == evaluator.settings.lr
    assert one.fingerprint() != evaluator.fingerprint()
    with pytest.raises(TypeError, match="settings"):
        rung_evaluator(object(), 1)


def test_losers_train_fewer_epochs_and_rank_below_the_promoted():
    evaluator = FakeEvaluator(epochs=3)
    halving = SuccessiveHalving(evaluator, rungs=(1, 3), eta=1 / 3)
    population = individuals(distinct_genomes(9))
    assert halving(population, toolbox()) == (9, 0, 0)
    epochs_by_genome = {}
    for key, epochs in evaluator.calls:
        epochs_by_genome.setdefault(key, []).append(epochs)
    winners = [key for key, runs in epochs_by_genome.items() if runs == [1, 3]]
    losers = [key for key, runs in epochs_by_genome.items() if runs == [1]]
    assert len(winners) == 3 and len(losers) == 6
    # The promoted are the best three after one epoch.
    by_first_rung = sorted(epochs_by_genome, key=quality, reverse=True)
    assert sorted(winners) == sorted(by_first_rung[:3])
    fitness = {str(ind): ind.fitness.values[0] for ind in population}
    assert min(fitness[k] for k in winners) > max(fitness[k] for k in losers)
    assert all(halving.reached[k] == 3 for k in winners) and all(halving.reached[k] == 1 for k in losers)
    assert halving.trainings == 12 and halving.rung_trainings == [9, 3]
    assert halving.epochs_trained == 9 * 1 + 3 * 3  # against 27 without halving


def test_a_promoted_candidate_always_ranks_above_a_stopped_one():
    # After 3 epochs the promoted candidates score *lower* than the losers did after 1.
    genomes = [str(g) for g in distinct_genomes(4, seed=5)]
    table = {
        genomes[0]: {1: 0.90, 3: 0.50},
        genomes[1]: {1: 0.80, 3: 0.40},
        genomes[2]: {1: 0.70, 3: 0.95},
        genomes[3]: {1: 0.60, 3: 0.99},
    }
    halving = SuccessiveHalving(FakeEvaluator(epochs=3, table=table), rungs=(1, 3), eta=1 / 2)
    population = individuals(deap_cnn.Genome.from_string(g) for g in genomes)
    halving(population, toolbox())
    fitness = {str(ind): ind.fitness.values[0] for ind in population}
    assert fitness[genomes[0]] == 0.50 and fitness[genomes[1]] == 0.40  # promoted keep their top-rung accuracy
    assert fitness[genomes[2]] < 0.40 and fitness[genomes[3]] < 0.40  # stopped ones clamped below them
    assert fitness[genomes[2]] > 0.39  # ...by the smallest step, not zeroed


def test_repeated_and_lone_candidates():
    evaluator = FakeEvaluator(epochs=3)
    halving = SuccessiveHalving(evaluator, rungs=(1, 3), eta=1 / 2)
    genomes = distinct_genomes(4, seed=2)
    twins = individuals([genomes[0], genomes[0], genomes[1], genomes[2], genomes[3]])
    assert halving(twins, toolbox()) == (4, 1, 0)
    assert twins[0].fitness.values == twins[1].fitness.values
    calls = len(evaluator.calls)
    # The same architectures again: every rung is served from its cache.
    assert halving(individuals(genomes), toolbox()) == (0, 4, 0)
    assert len(evaluator.calls) == calls
    # A lone candidate has nobody to lose against: it trains at the top rung only.
    lone = individuals(distinct_genomes(5, seed=2)[4:])
    halving(lone, toolbox())
    assert evaluator.calls[calls:] == [(str(lone[0]), 3)]


class LossEvaluator(FakeEvaluator):
    """Records whose validation loss is 1 - the accuracy FakeEvaluator would give: lower is better."""

    def record(self, genome):
        record = super().record(genome)
        record.val_loss = [1.0 - record.val_accuracy[0]]
        return record


def test_halving_ranks_by_a_wrapped_evaluators_objective_and_its_direction():
    if not hasattr(creator, "HalvingFitnessMin"):
        creator.create("HalvingFitnessMin", base.Fitness, weights=(-1.0,))
        creator.create("HalvingIndividualMin", deap_cnn.Genome, fitness=creator.HalvingFitnessMin)
    evaluator = LossEvaluator(epochs=3)
    scorer = Objectives("loss").wrap(evaluator)
    halving = SuccessiveHalving(scorer, eta=1 / 3)
    assert halving.rungs == (1, 3)
    one = halving.evaluators[0]
    assert one.objectives == scorer.objectives and one.evaluator.settings.epochs == 1  # the rung copy, still scored
    assert evaluator.settings.epochs == 3 and one.fingerprint() != scorer.fingerprint()
    population = [creator.HalvingIndividualMin(g) for g in distinct_genomes(9)]
    assert halving(population, toolbox()) == (9, 0, 0)
    promoted = [key for key, epochs in halving.reached.items() if epochs == 3]
    assert sorted(promoted) == sorted(sorted(halving.reached, key=quality, reverse=True)[:3])  # the lowest losses
    loss = {str(ind): ind.fitness.values[0] for ind in population}
    assert max(loss[k] for k in promoted) < min(loss[k] for k in loss if k not in promoted)


def test_halving_needs_one_objective():
    if not hasattr(creator, "HalvingFitness2"):
        creator.create("HalvingFitness2", base.Fitness, weights=(1.0, -1.0))
        creator.create("HalvingIndividual2", deap_cnn.Genome, fitness=creator.HalvingFitness2)
    halving = SuccessiveHalving(FakeEvaluator(), rungs=(1, 3))
    with pytest.raises(ValueError, match="one number"):
        halving([creator.HalvingIndividual2(g) for g in distinct_genomes(2)], toolbox())


def test_loop_runs_with_halving_through_its_hook():
    random.seed(3)
    evaluator = FakeEvaluator(epochs=4)
    halving = SuccessiveHalving(evaluator, eta=1 / 2)
    assert halving.rungs == (1, 2, 4)
    box = toolbox()
    box.register("individual", deap_cnn.init_genome, creator.HalvingIndividual, SPACE)
    box.register("population", tools.initRepeat, list, box.individual)
    box.register("mate", deap_cnn.cx_one_point, space=SPACE)
    box.register("mutate", deap_cnn.mut_cnn_ga, space=SPACE)
    box.register("select", deap_cnn.sel_environmental)
    box.register("evaluate", evaluator.record)
    population = box.population(n=8)
    population, logbook = ea_cnn_ga(population, box, ngen=3, verbose=False, evaluate_population=halving)
    assert all(ind.fitness.valid for ind in population)
    assert sum(logbook.select("nevals")) == halving.candidates == len(halving.reached)
    full = sum(epochs == 4 for epochs in halving.reached.values())
    assert 0 < full < len(halving.reached)  # some went the whole way, most stopped early
    assert halving.epochs_trained < 4 * halving.candidates


def test_real_evaluator_store_records_epochs_per_candidate(tmp_path):
    settings = TrainSettings(epochs=2, max_batches_per_epoch=2, batch_size=32)
    evaluator = Evaluator(DataSource("sample"), SPACE, settings, device="cpu", threads=1)
    path = tmp_path / "results.sqlite"
    halving = SuccessiveHalving(evaluator, rungs=(1, 2), eta=1 / 2, store=partial(ResultsStore, path))
    population = individuals(distinct_genomes(6, seed=7))
    assert halving(population, toolbox(), generation=0) == (6, 0, 0)
    halving.close()
    with sqlite3.connect(path) as db:
        deepest = dict(db.execute("SELECT genome, MAX(epochs) FROM evaluations GROUP BY genome"))
        fingerprints = db.execute("SELECT COUNT(DISTINCT fingerprint) FROM evaluations").fetchone()[0]
    assert sorted(deepest.values()) == [1, 1, 1, 2, 2, 2]
    assert fingerprints == 2  # one cache key per rung
    fitness = {str(ind): ind.fitness.values[0] for ind in population}
    promoted = [k for k, e in deepest.items() if e == 2]
    stopped = [k for k, e in deepest.items() if e == 1]
    assert min(fitness[k] for k in promoted) > max(fitness[k] for k in stopped)


def test_continued_halving_trains_the_promoted_candidates_for_the_extra_epochs_only(tmp_path):
    settings = TrainSettings(epochs=3, max_batches_per_epoch=2, batch_size=32, cpu_amp=False)
    evaluator = Evaluator(DataSource("sample"), SPACE, settings, device="cpu", threads=1)
    path = tmp_path / "results.sqlite"
    halving = SuccessiveHalving(
        evaluator,
        rungs=(1, 3),
        eta=1 / 2,
        store=partial(ResultsStore, path),
        continue_training=True,
        state_dir=tmp_path / "states",
    )
    population = individuals(distinct_genomes(4, seed=3))
    assert halving(population, toolbox(), generation=0) == (4, 0, 0)
    top = [halving.caches[1].get(str(ind)) for ind in population]
    promoted = [record for record in top if record is not None]
    assert len(promoted) == 2
    for record in promoted:
        assert record["epochs"] == 3 and record["continued_from"] == 1  # trained 3 - 1 epochs at the top rung
        first = halving.caches[0].get(record["genome"])
        assert record["val_loss"][:1] == first["val_loss"]  # the top rung went on from the first rung's epoch
    assert halving.epochs_trained == 4 * 1 + 2 * (3 - 1)
    assert not list((tmp_path / "states").iterdir())  # the batch is done: its training states are gone
    # Continuing is training longer: the same genome trained for 3 epochs in one go gives the same curves.
    straight = Evaluator(DataSource("sample"), SPACE, settings, device="cpu", threads=1).record(promoted[0]["genome"])
    assert straight.val_loss == promoted[0]["val_loss"] and straight.continued_from == 0
    halving.close()


def test_continued_halving_needs_an_evaluator_that_keeps_its_training_state():
    with pytest.raises(TypeError, match="continue_training=False"):
        SuccessiveHalving(FakeEvaluator(epochs=3), rungs=(1, 3), continue_training=True)
