"""Random search, TPE and the budgeted GA: same budget, same space, cache hits free."""

import sqlite3
import time
import zlib

import pytest
from conftest import genomes, search_spaces
from hypothesis import given

import deap_cnn
from deap_cnn.families.cnn_ga.suggest import decode_params, encode_genome
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.baselines import ga_search, random_search, tpe_search
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.halving import SuccessiveHalving
from deap_cnn.training.evaluator import Evaluator
from deap_cnn.training.settings import EvaluationRecord, TrainSettings
from deap_cnn.training.sources import DataSource

SPACE = deap_cnn.SearchSpace(input_shape=(1, 28, 28), n_classes=10, widths=(4, 8), max_skip_units=3)
ONE_GENOME = deap_cnn.SearchSpace(
    input_shape=(1, 28, 28), n_classes=10, widths=(8,), max_skip_units=1, max_pool_units=0
)
SEARCHES = {"random": random_search, "tpe": tpe_search, "ga": ga_search}


class FakeEvaluator:
    """Deterministic accuracy per genome (wider, deeper is better); logs every training."""

    def __init__(self, epochs=2, delay=0.0):
        self.settings = TrainSettings(epochs=epochs)
        self.delay = delay
        self.calls = []

    def fingerprint(self):
        return "fake-" + self.settings.fingerprint()

    def record(self, genome):
        key = str(genome)
        self.calls.append((key, self.settings.epochs))
        if self.delay:
            time.sleep(self.delay)
        widths = sum(g.width for g in genome if isinstance(g, deap_cnn.SkipGene))
        accuracy = widths / 100 + zlib.crc32(key.encode()) % 100 / 10000
        return EvaluationRecord(genome=key, fitness=(accuracy,), epochs=self.settings.epochs)


def run(name, evaluator, budget, **kwargs):
    kwargs.setdefault("seed", 1)
    if name == "ga":
        kwargs.setdefault("population_size", 4)
    else:
        kwargs.setdefault("batch_size", 4)
    return SEARCHES[name](kwargs.pop("space", SPACE), evaluator.record, budget, **kwargs)


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_search_spends_exactly_its_budget_inside_the_space(name):
    evaluator = FakeEvaluator()
    result = run(name, evaluator, budget=10)
    trained = [key for key, _ in evaluator.calls]
    assert result.trainings == 10 and result.stopped == "budget"
    assert len(trained) == len(set(trained)) == 10  # never an architecture twice
    assert all(SPACE.is_valid(deap_cnn.Genome.from_string(key)) for key in trained)
    assert sorted(key for key, _ in result.history) == sorted(trained)
    assert result.best_fitness == max(fitness for _, fitness in result.history)
    assert result.best_genome in trained


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_cache_hits_do_not_count_as_trainings(name, tmp_path):
    evaluator = FakeEvaluator()
    with ResultsStore(tmp_path / "results.sqlite", fingerprint=evaluator.fingerprint()) as store:
        first = run(name, evaluator, budget=6, cache=EvaluationCache(store))
        again = run(name, evaluator, budget=6, cache=EvaluationCache(store))  # same seed: same first proposals
        assert first.trainings == again.trainings == 6
        assert again.cache_hits >= 1
        assert len(store) == len(evaluator.calls) == 12


@pytest.mark.parametrize("name", ["random", "tpe"])
def test_a_search_stops_when_the_space_is_exhausted(name):
    evaluator = FakeEvaluator()
    result = run(name, evaluator, budget=5, space=ONE_GENOME)
    assert result.trainings == 1 and result.stopped == "exhausted"
    assert evaluator.calls == [("S8", 2)]


def test_ga_stops_when_no_generation_brings_anything_new():
    evaluator = FakeEvaluator()
    result = run("ga", evaluator, budget=5, space=ONE_GENOME)
    assert result.trainings == 1 and result.stopped == "exhausted"


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_seconds_budget_stops_between_batches(name):
    evaluator = FakeEvaluator(delay=0.05)
    result = run(name, evaluator, budget=1000, seconds=0.1)
    assert result.stopped == "seconds"
    assert 4 <= result.trainings <= 12  # the batch under way finishes, no further batch starts


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_budget_counts_candidates_under_successive_halving(name):
    evaluator = FakeEvaluator(epochs=3)
    halving = SuccessiveHalving(evaluator, rungs=(1, 3), eta=1 / 2)
    result = run(name, evaluator, budget=8, evaluate_population=halving)
    assert result.trainings == halving.candidates == 8
    first_rung = [key for key, epochs in evaluator.calls if epochs == 1]
    top_rung = [key for key, epochs in evaluator.calls if epochs == 3]
    assert len(set(first_rung)) == 8 and 0 < len(top_rung) < 8
    assert halving.epochs_trained < 8 * 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ga_trains_only_the_trainings_left_in_its_last_generation(seed):
    evaluator = FakeEvaluator()
    result = run("ga", evaluator, budget=5, seed=seed, population_size=4)
    assert result.trainings == len(evaluator.calls) == 5  # not 8: the second generation is cut to one training
    assert len(result.history) == 5 and all(fitness[0] > 0 for _, fitness in result.history)


def test_ga_search_is_reproducible_with_a_seed():
    first = run("ga", FakeEvaluator(), budget=12, seed=4)
    second = run("ga", FakeEvaluator(), budget=12, seed=4)
    assert first.history == second.history


def test_tpe_proposes_better_than_its_random_startup_on_an_easy_fitness():
    # On a fitness that rewards width and depth, TPE's later proposals are better on average.
    result = run("tpe", FakeEvaluator(), budget=40, batch_size=2, n_startup_trials=10)
    scores = [fitness[0] for _, fitness in result.history]
    assert sum(scores[-10:]) / 10 > sum(scores[:10]) / 10


@given(search_spaces().flatmap(lambda space: genomes(space).map(lambda genome: (space, genome))))
def test_tpe_encoding_round_trips_every_valid_genome(space_and_genome):
    space, genome = space_and_genome
    assert decode_params(encode_genome(genome, space), space) == genome


def test_tpe_decoding_clips_any_values_into_the_space():
    params = {"skip_units": 9, "pool_units": 7, "pool_0_at": 1.0, "pool_0_kind": "max"}
    params.update({f"width_{i}": 8 for i in range(3)})
    params.update({f"pool_{j}_at": 0.0 for j in range(1, 3)})
    params.update({f"pool_{j}_kind": "mean" for j in range(1, 3)})
    genome = decode_params(params, SPACE)
    assert str(genome) == "S8-Pmean-Pmean-S8-S8-Pmax"


def test_budget_is_checked():
    with pytest.raises(ValueError, match="budget"):
        random_search(SPACE, FakeEvaluator().record, budget=0)
    with pytest.raises(ValueError, match="batch_size"):
        tpe_search(SPACE, FakeEvaluator().record, budget=3, batch_size=0)


def test_random_search_with_the_real_evaluator_and_store(tmp_path):
    settings = TrainSettings(epochs=1, max_batches_per_epoch=2, batch_size=32)
    evaluator = Evaluator(DataSource("sample"), SPACE, settings, device="cpu", threads=1)
    path = tmp_path / "results.sqlite"
    with ResultsStore(path, fingerprint=evaluator.fingerprint()) as store:
        result = random_search(SPACE, evaluator.record, budget=3, cache=EvaluationCache(store), batch_size=2, seed=0)
    assert result.trainings == 3 and 0.0 <= result.best_fitness[0] <= 1.0
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT genome, epochs, status FROM evaluations").fetchall()
    assert len(rows) == 3 and all(epochs == 1 and status == "ok" for _, epochs, status in rows)
