"""Random search and TPE on the loop every strategy shares: same budget, same space, cache hits free."""

import sqlite3
import time
import zlib

import pytest
from conftest import genomes, search_spaces
from hypothesis import given

import deap_cnn
from deap_cnn.families import get_family
from deap_cnn.families.cnn_ga.suggest import decode_params, encode_genome
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.baselines import TPEProposer
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.steady import MAX_FRUITLESS_PROPOSALS, steady_state
from deap_cnn.search.strategies import Budget, SearchContext, get_strategy
from deap_cnn.training.evaluator import Evaluator
from deap_cnn.training.settings import EvaluationRecord, TrainSettings
from deap_cnn.training.sources import DataSource

SPACE = deap_cnn.SearchSpace(input_shape=(1, 28, 28), n_classes=10, widths=(4, 8), max_skip_units=3)
ONE_GENOME = deap_cnn.SearchSpace(
    input_shape=(1, 28, 28), n_classes=10, widths=(8,), max_skip_units=1, max_pool_units=0
)
SEARCHES = ["random", "tpe"]


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


CNN_GA = get_family("cnn-ga")


def run(name, evaluator, budget, seconds=None, space=SPACE, **context):
    context.setdefault("seed", 1)
    context.setdefault("cache", EvaluationCache())
    population = context.pop("population", 4)
    return get_strategy(name).run(
        CNN_GA, space, evaluator.record, Budget(population, trainings=budget, seconds=seconds), SearchContext(**context)
    )


@pytest.mark.parametrize("name", SEARCHES)
def test_search_spends_exactly_its_budget_inside_the_space(name):
    evaluator = FakeEvaluator()
    result = run(name, evaluator, budget=10)
    trained = [key for key, _ in evaluator.calls]
    assert result.trainings == 10 and result.stopped == "trainings"
    assert len(trained) == len(set(trained)) == 10  # never an architecture twice
    assert all(SPACE.is_valid(deap_cnn.Genome.from_string(key)) for key in trained)
    assert set(trained) <= {key for key, _ in result.history}
    best = result.best[0]
    assert str(best) in trained and best.fitness.values == max(fitness for _, fitness in result.history)


@pytest.mark.parametrize("name", SEARCHES)
def test_cache_hits_do_not_count_as_trainings(name, tmp_path):
    evaluator = FakeEvaluator()
    with ResultsStore(tmp_path / "results.sqlite", fingerprint=evaluator.fingerprint()) as store:
        first = run(name, evaluator, budget=6, cache=EvaluationCache(store))
        again = run(name, evaluator, budget=6, cache=EvaluationCache(store))  # same seed: same first proposals
        assert first.trainings == again.trainings == 6
        assert len(again.history) > 6  # the first run's genomes came back free
        assert len(store) == len(evaluator.calls) == 12


@pytest.mark.parametrize("name", SEARCHES)
def test_a_search_stops_when_the_space_is_exhausted(name):
    evaluator = FakeEvaluator()
    result = run(name, evaluator, budget=5, space=ONE_GENOME)
    assert result.trainings == 1 and result.stopped == "exhausted"
    assert evaluator.calls == [("S8", 2)]
    assert len(result.history) == 1 + MAX_FRUITLESS_PROPOSALS  # the loop's one give-up rule


@pytest.mark.parametrize("name", SEARCHES)
def test_seconds_budget_stops_the_search(name):
    evaluator = FakeEvaluator(delay=0.05)
    result = run(name, evaluator, budget=1000, seconds=0.1)
    assert result.stopped == "seconds"
    assert 1 <= result.trainings <= 4  # the evaluation under way finishes, no further one starts


def test_tpe_tells_a_batch_once_all_of_it_is_back():
    evaluator = FakeEvaluator()
    budget, context = Budget(4, trainings=6), SearchContext(seed=1)
    proposer = TPEProposer.build(CNN_GA, SPACE, budget, context)
    toolbox = CNN_GA.toolbox(SPACE, evaluator.record)
    run = steady_state(proposer, toolbox, budget.training_count, seed=1)
    assert run.trained == 6
    tells = [event for event in run.proposer.events if event[0] == "tell"]
    assert len(tells) == 4 and len(run.proposer.results) == 2  # the cut second batch is held back, not told


def test_tpe_proposes_better_than_its_random_startup_on_an_easy_fitness():
    # On a fitness that rewards width and depth, TPE's later proposals are better on average.
    result = run("tpe", FakeEvaluator(), budget=40, population=2)
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


def test_random_search_with_the_real_evaluator_and_store(tmp_path):
    settings = TrainSettings(epochs=1, max_batches_per_epoch=2, batch_size=32)
    evaluator = Evaluator(DataSource("sample"), SPACE, settings, device="cpu", threads=1)
    path = tmp_path / "results.sqlite"
    with ResultsStore(path, fingerprint=evaluator.fingerprint()) as store:
        result = get_strategy("random").run(
            CNN_GA, SPACE, evaluator.record, Budget(2, trainings=3), SearchContext(store=store, seed=0)
        )
    assert result.trainings == 3 and 0.0 <= result.best[0].fitness.values[0] <= 1.0
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT genome, epochs, status FROM evaluations").fetchall()
    assert len(rows) == 3 and all(epochs == 1 and status == "ok" for _, epochs, status in rows)
