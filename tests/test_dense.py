"""The fully connected family: genome text, operators (hypothesis), selection, vector data, growth records, the loop."""

from __future__ import annotations

import pickle
import random
from collections import Counter

import numpy as np
import pytest
import torch
from deap import base, creator, tools
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from deap_cnn import GenomeError, SearchSpaceError
from deap_cnn.families.dense.genome import DenseGenome, HiddenLayer
from deap_cnn.families.dense.network import build_dense_network
from deap_cnn.families.dense.operators import (
    cx_dense,
    cx_dense_uniform,
    init_dense,
    mut_dense,
    sel_best_plus_random,
)
from deap_cnn.families.dense.space import DENSE_MUTATIONS, DenseSpace
from deap_cnn.families.devol.genome import ACTIVATIONS
from deap_cnn.runs.checkpoint import load_checkpoint
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.ga import ea_cnn_ga
from deap_cnn.training.augment import resolve_augment
from deap_cnn.training.datasets import DataError, VectorDataset, from_vectors
from deap_cnn.training.device_data import DeviceData
from deap_cnn.training.evaluator import Evaluator
from deap_cnn.training.loaders import load_digits
from deap_cnn.training.settings import TrainSettings
from deap_cnn.training.sources import DataSource, load_data
from deap_cnn.training.trainer import Trainer

if not hasattr(creator, "DenseIndividual"):
    creator.create("DenseFitnessMax", base.Fitness, weights=(1.0,))
    creator.create("DenseFitnessMin", base.Fitness, weights=(-1.0,))
    creator.create("DenseIndividual", DenseGenome, fitness=creator.DenseFitnessMax)
    creator.create("DenseIndividualMin", DenseGenome, fitness=creator.DenseFitnessMin)

seeds = st.integers(0, 2**32 - 1)
FITNESS = (0.25,)

# --- strategies -------------------------------------------------------------------


def subset(values):
    return st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True)


@st.composite
def dense_spaces(draw, shapes=((64,), (5,), (1, 8, 8))):
    low = draw(st.integers(1, 3))
    weights = st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=5, max_size=5).filter(lambda w: sum(w) > 0)
    return DenseSpace(
        input_shape=draw(st.sampled_from(shapes)),
        n_classes=draw(st.integers(2, 7)),
        min_layers=low,
        max_layers=draw(st.integers(low, low + 4)),
        units=tuple(draw(subset([1, 4, 16, 32]))),
        activations=tuple(draw(subset(list(ACTIVATIONS)))),
        dropouts=tuple(draw(subset([0.0, 0.1, 0.5]))),
        mutation_weights=tuple(draw(st.one_of(st.just((1.0,) * 5), weights))),
    )


@st.composite
def dense_genomes(draw, space):
    count = draw(
        st.one_of(st.just(space.min_layers), st.just(space.max_layers), st.integers(space.min_layers, space.max_layers))
    )
    return DenseGenome(
        HiddenLayer(
            draw(st.sampled_from(space.units)),
            draw(st.sampled_from(space.activations)),
            draw(st.sampled_from(space.dropouts)),
        )
        for _ in range(count)
    )


@st.composite
def space_and_dense_genomes(draw, n=1, spaces=None):
    space = draw(spaces if spaces is not None else dense_spaces())
    return space, [draw(dense_genomes(space)) for _ in range(n)]


def individual(genome, fitness=FITNESS, cls=None):
    ind = (cls or creator.DenseIndividual)(genome)
    if fitness is not None:
        ind.fitness.values = fitness
    return ind


# --- genome and space ----------------------------------------------------------------


def test_text_reads_as_documented():
    genome = DenseGenome.from_string("256:relu:0.2-64:tanh:0.0")
    assert genome == [HiddenLayer(256, "relu", 0.2), HiddenLayer(64, "tanh", 0.0)]
    assert str(genome) == "256:relu:0.2-64:tanh:0.0"
    assert str(DenseGenome([HiddenLayer(8, "elu", 0)])) == "8:elu:0.0"


@given(space_and_dense_genomes())
def test_text_round_trips_and_validate_accepts_it(case):
    space, (genome,) = case
    assert DenseGenome.from_string(str(genome)) == genome
    assert space.validate(str(genome)) == genome
    assert isinstance(space.validate(list(genome)), DenseGenome)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "non-empty"),
        ("64relu0.2", "expected"),
        ("64:swish:0.0", "activation"),
        ("0:relu:0.0", "expected"),
        ("64:relu:1.0", "dropout"),
    ],
)
def test_bad_text_names_the_problem(text, message):
    with pytest.raises(GenomeError, match=message):
        DenseGenome.from_string(text)


def test_space_rules_are_named():
    space = DenseSpace(input_shape=64, min_layers=1, max_layers=2, units=(16, 32))
    assert space.input_shape == (64,)
    with pytest.raises(GenomeError, match="layer count"):
        space.validate("16:relu:0.0-16:relu:0.0-16:relu:0.0")
    with pytest.raises(GenomeError, match="allowed values.*units 64"):
        space.validate("64:relu:0.0")
    with pytest.raises(GenomeError, match="dropout 0.4"):
        space.validate("16:relu:0.4")
    for change, message in [
        ({"min_layers": 0}, "min_layers"),
        ({"max_layers": 0}, "max_layers"),
        ({"units": ()}, "units"),
        ({"activations": ("swish",)}, "activations"),
        ({"mutation_weights": (0, 0, 0, 0, 0)}, "mutation_weights"),
        ({"input_shape": ()}, "input_shape"),
    ]:
        with pytest.raises(SearchSpaceError, match=message):
            DenseSpace(**change)


# --- operators ------------------------------------------------------------------------


@given(dense_spaces(), seeds)
def test_init_gives_valid_individuals(space, seed):
    ind = init_dense(creator.DenseIndividual, space, random.Random(seed))
    assert type(ind) is creator.DenseIndividual and not ind.fitness.valid
    assert space.violations(ind) == []


@given(space_and_dense_genomes(n=2), seeds)
def test_crossover_exchanges_tails_and_conserves_layers(case, seed):
    space, (a, b) = case
    ind1, ind2 = individual(a), individual(b)
    result = cx_dense(ind1, ind2, space, random.Random(seed))
    assert isinstance(result, tuple) and result[0] is ind1 and result[1] is ind2
    assert ind1.fitness.values == ind2.fitness.values == FITNESS
    assert space.violations(ind1) == [] and space.violations(ind2) == []
    assert Counter(ind1 + ind2) == Counter(a + b)
    if list(ind1) == list(a):
        assert list(ind2) == list(b)
    else:
        assert list(ind1) != list(b)
        assert any(
            list(ind1) == a[:i] + b[j:] and list(ind2) == b[:j] + a[i:]
            for i in range(len(a) + 1)
            for j in range(len(b) + 1)
        )


def test_crossover_exchanges_whenever_a_valid_exchange_exists():
    space = DenseSpace(min_layers=2, max_layers=2, units=(8, 16))
    a, b = DenseGenome.from_string("8:relu:0.0-8:relu:0.0"), DenseGenome.from_string("16:relu:0.0-16:relu:0.0")
    ind1, ind2 = individual(a), individual(b)
    cx_dense(ind1, ind2, space, random.Random(0))
    # with both lengths fixed at 2 the only exchange is the middle cut
    assert ind1 == [a[0], b[1]] and ind2 == [b[0], a[1]]


@given(space_and_dense_genomes(n=2), seeds, st.sampled_from([0.0, 0.5, 1.0]))
def test_uniform_crossover_swaps_traits_position_by_position(case, seed, indpb):
    space, (a, b) = case
    ind1, ind2 = individual(a), individual(b)
    cx_dense_uniform(ind1, ind2, space, indpb=indpb, rng=random.Random(seed))
    assert len(ind1) == len(a) and len(ind2) == len(b)
    assert space.violations(ind1) == [] and space.violations(ind2) == [] and ind1.fitness.values == FITNESS
    for n in range(min(len(a), len(b))):
        for trait in ("units", "activation", "dropout"):
            pair = Counter([getattr(ind1[n], trait), getattr(ind2[n], trait)])
            assert pair == Counter([getattr(a[n], trait), getattr(b[n], trait)])
    assert ind1[len(b) :] == a[len(b) :] and ind2[len(a) :] == b[len(a) :]
    if indpb == 0.0:
        assert ind1 == a and ind2 == b
    if indpb == 1.0:
        assert ind1[: len(b)] == b[: len(a)] and ind2[: len(a)] == a[: len(b)]


@given(space_and_dense_genomes(), seeds)
def test_mutation_changes_one_gene_within_the_space(case, seed):
    space, (genome,) = case
    ind = individual(genome)
    result = mut_dense(ind, space, random.Random(seed))
    assert isinstance(result, tuple) and result[0] is ind and ind.fitness.values == FITNESS
    assert space.violations(ind) == []
    after, before = list(ind), list(genome)
    if len(after) == len(before):
        changed = [n for n in range(len(after)) if after[n] != before[n]]
        if not changed:  # only when no mutation type with a weight can apply
            weight = dict(zip(DENSE_MUTATIONS, space.mutation_weights, strict=True))
            assert not (weight["add"] and len(before) < space.max_layers)
            assert not (weight["remove"] and len(before) > space.min_layers)
            assert not any(weight[t] and len(space.choices(t)) > 1 for t in ("units", "activation", "dropout"))
            return
        (n,) = changed
        traits = [t for t in ("units", "activation", "dropout") if getattr(after[n], t) != getattr(before[n], t)]
        assert len(traits) == 1 and getattr(after[n], traits[0]) in space.choices(traits[0])
    elif len(after) == len(before) + 1:
        assert any(after[:n] + after[n + 1 :] == before for n in range(len(after)))
    else:
        assert len(after) == len(before) - 1
        assert any(before[:n] + before[n + 1 :] == after for n in range(len(before)))


def test_mutation_draws_types_by_weight():
    space = DenseSpace(min_layers=1, max_layers=5, mutation_weights=(0, 0, 0, 1, 0))
    genome = DenseGenome.from_string("16:relu:0.0")
    for seed in range(4):
        mut_dense(genome, space, random.Random(seed))
    assert len(genome) == 5
    mut_dense(genome, space, random.Random(9))  # add no longer applies, and the others weigh nothing
    assert len(genome) == 5


# --- selection -------------------------------------------------------------------------


def population_with_fitness(values, cls=None):
    return [individual(DenseGenome([HiddenLayer(n + 1)]), fitness=(v,), cls=cls) for n, v in enumerate(values)]


@given(st.lists(st.floats(-10, 10), min_size=1, max_size=40, unique=True), st.integers(0, 30), seeds)
def test_best_plus_random_draws_from_the_pool(values, k, seed):
    population = population_with_fitness(values)
    chosen = sel_best_plus_random(population, k, rng=random.Random(seed))
    assert len(chosen) == k
    assert all(any(c is p for p in population) for c in chosen)  # references, not copies
    n = len(population)
    n_best = max(1, int(0.2 * n + 0.5))
    n_random = min(n - n_best, max(1, int(0.1 * n + 0.5)))
    ranked = sorted(population, key=lambda ind: ind.fitness.values[0], reverse=True)
    top = {id(ind) for ind in ranked[:n_best]}
    picked = {id(c) for c in chosen}
    assert len(picked - top) <= n_random
    if k >= n_best + n_random:  # the whole pool is drawn before any member repeats
        assert top <= picked and len(picked) == n_best + n_random
    else:
        assert len(picked) == k


def test_best_plus_random_is_deeplearngenes_twenty_plus_ten_percent():
    population = population_with_fitness([n / 50 for n in range(50)])
    chosen = sel_best_plus_random(population, 15, rng=random.Random(0))
    values = sorted((c.fitness.values[0] for c in chosen), reverse=True)
    assert values[:10] == [n / 50 for n in range(49, 39, -1)]
    assert all(v < 40 / 50 for v in values[10:]) and len(set(values)) == 15


def test_best_plus_random_respects_minimising_fitness_and_fractions():
    population = population_with_fitness([5.0, 1.0, 3.0, 4.0, 2.0], cls=creator.DenseIndividualMin)
    chosen = sel_best_plus_random(population, 3, best_fraction=0.4, random_fraction=0.0, rng=random.Random(1))
    values = [c.fitness.values[0] for c in chosen]
    assert set(values) == {1.0, 2.0} and len(values) == 3  # the two lowest, then one of them again
    with pytest.raises(ValueError, match="best_fraction"):
        sel_best_plus_random(population, 2, best_fraction=1.5)
    with pytest.raises(ValueError, match="at least one"):
        sel_best_plus_random([], 2)


# --- decoding -----------------------------------------------------------------------------


@settings(max_examples=30)
@given(space_and_dense_genomes())
def test_every_valid_genome_decodes_and_runs_forward(case):
    space, (genome,) = case
    network = build_dense_network(genome, space.input_shape, space.n_classes).eval()
    assert network(torch.zeros(3, *space.input_shape)).shape == (3, space.n_classes)
    linears = [m for m in network if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [layer.units for layer in genome] + [space.n_classes]
    assert linears[0].in_features == int(np.prod(space.input_shape))
    assert sum(isinstance(m, nn.Dropout) for m in network) == sum(layer.dropout > 0 for layer in genome)


def test_decoding_order_and_text_input():
    network = build_dense_network("32:tanh:0.5-8:linear:0.0", (64,), 10)
    assert [type(m).__name__ for m in network] == ["Linear", "Tanh", "Dropout", "Linear", "Identity", "Linear"]
    assert network[2].p == 0.5


# --- vector data ----------------------------------------------------------------------------


def test_digits_are_bundled_vectors_with_a_stratified_test_split():
    digits = load_digits()
    assert isinstance(digits, VectorDataset)
    assert digits.input_shape == (64,) and digits.n_classes == 10
    assert len(digits.x_train) + len(digits.x_test) == 1797 and 340 <= len(digits.x_test) <= 380
    assert digits.x_train.dtype == torch.float32 and float(digits.x_train.max()) == 16.0
    assert set(digits.y_test.tolist()) == set(range(10))
    assert torch.equal(load_digits().x_test, digits.x_test)  # seeded
    assert load_data("digits") is DataSource("digits").load()
    train_idx, val_idx = digits.split(0.1, 0)
    assert len(set(train_idx.tolist()) | set(val_idx.tolist())) == len(digits.x_train)
    digits.check_fits((64,), 10)
    with pytest.raises(DataError, match="does not fit"):
        digits.check_fits((1, 8, 8), 10)


def test_from_vectors_converts_and_checks():
    data = from_vectors(np.arange(12).reshape(4, 3), [0, 1, 0, 1], np.ones((2, 3)), [1, 0], name="toy")
    assert data.x_train.dtype == torch.float32 and data.input_shape == (3,) and data.classes == ("0", "1")
    assert load_data(data) is data
    with pytest.raises(DataError, match="2-d"):
        from_vectors(np.zeros((4, 2, 2)), [0, 1, 0, 1], np.zeros((1, 4)), [0])
    with pytest.raises(DataError, match="NaN"):
        from_vectors(np.array([[np.nan], [1.0]]), [0, 1], np.zeros((1, 1)), [0])
    with pytest.raises(DataError, match="features"):
        from_vectors(np.zeros((2, 3)), [0, 1], np.zeros((1, 4)), [0])


def test_vectors_are_standardised_on_the_device_and_the_stored_data_is_untouched():
    x = torch.randn(200, 5) * torch.tensor([1.0, 10.0, 0.1, 3.0, 1.0]) + 7.0
    x[:, 4] = 2.0  # a constant feature stays finite
    data = DeviceData.from_tensors(
        x, torch.zeros(200, dtype=torch.int64), x[:10].clone(), torch.zeros(10, dtype=torch.int64), "cpu"
    )
    trainer = Trainer(nn.Linear(5, 2), data, TrainSettings())
    assert trainer.memory_format == torch.contiguous_format and trainer.augment == "none"
    kept = data.x_train.clone()
    prepared = trainer._prepare(data.x_train)
    assert torch.equal(data.x_train, kept)
    assert torch.allclose(prepared[:, :4].mean(0), torch.zeros(4), atol=1e-4)
    assert torch.allclose(prepared[:, :4].std(0, unbiased=False), torch.ones(4), atol=1e-3)
    assert torch.equal(prepared[:, 4], torch.zeros(200))
    assert resolve_augment("auto", (64,)) == "none"
    with pytest.raises(ValueError, match="images"):
        resolve_augment("crop_flip", (64,))


# --- growth records and the time limit ----------------------------------------------------------

SPACE = DenseSpace(input_shape=(64,), n_classes=10, max_layers=2, units=(16, 32))
QUICK = TrainSettings(epochs=3, batch_size=64, max_batches_per_epoch=4, record_batches=True)


def evaluate(settings=QUICK, genome="32:relu:0.1"):
    return Evaluator("digits", SPACE, settings, device="cpu", threads=1, builder=build_dense_network).record(genome)


def test_growth_records_keep_epoch_and_batch_curves_and_times():
    record = evaluate()
    assert record.status == "ok" and record.epochs == 3
    assert (
        len(record.train_loss) == len(record.epoch_seconds) == len(record.batch_loss) == len(record.batch_seconds) == 3
    )
    assert all(len(epoch) == 4 for epoch in record.batch_loss + record.batch_seconds)
    assert all(s > 0 for epoch in record.batch_seconds for s in epoch)
    # an epoch also validates
    assert all(e >= sum(b) for e, b in zip(record.epoch_seconds, record.batch_seconds, strict=True))
    for epoch_loss, batches in zip(record.train_loss, record.batch_loss, strict=True):
        assert epoch_loss == pytest.approx(sum(batches) / len(batches), rel=1e-5)
    assert record.train_loss[-1] < record.train_loss[0]  # it learns
    assert record.fitness[0] > 0.5
    assert pickle.loads(pickle.dumps(record)).batch_loss == record.batch_loss


def test_dropout_networks_evaluate_reproducibly_and_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    first, second = evaluate(genome="32:relu:0.5"), evaluate(genome="32:relu:0.5")
    assert first.val_loss == second.val_loss and first.batch_loss == second.batch_loss
    assert torch.equal(torch.get_rng_state(), state)
    assert (
        evaluate(TrainSettings(epochs=3, batch_size=64, max_batches_per_epoch=4, seed=1), "32:relu:0.5").val_loss
        != first.val_loss
    )


def test_growth_records_are_off_by_default_and_change_no_fitness():
    quiet = evaluate(TrainSettings(epochs=3, batch_size=64, max_batches_per_epoch=4))
    assert quiet.batch_loss == quiet.batch_seconds == quiet.epoch_seconds == []
    assert len(quiet.train_loss) == 3
    loud = evaluate()
    assert quiet.fitness == loud.fitness and quiet.train_loss == loud.train_loss
    assert QUICK.fingerprint() == TrainSettings(epochs=3, batch_size=64, max_batches_per_epoch=4).fingerprint()


def test_the_wall_clock_limit_stops_a_network_after_the_epoch_that_crosses_it():
    record = evaluate(TrainSettings(epochs=50, batch_size=32, record_batches=True, time_budget=0.05))
    assert record.status == "ok"
    assert 1 <= record.epochs < 50
    assert len(record.batch_loss) == len(record.epoch_seconds) == record.epochs == len(record.val_accuracy)
    assert sum(record.epoch_seconds[:-1]) < 0.05 <= sum(record.epoch_seconds) + 1e-3


# --- one short run through the loop -------------------------------------------------------------


class GrowthKeeper:
    """Passes records on and keeps every network's growth record, as a results consumer would."""

    def __init__(self, evaluate):
        self.evaluate, self.growth = evaluate, {}

    def __call__(self, genome):
        record = self.evaluate(genome)
        self.growth[record.genome] = (record.batch_loss, record.epoch_seconds)
        return record


def test_a_short_search_runs_through_the_loop_with_best_plus_random_parents(tmp_path):
    space = DenseSpace(input_shape=(64,), n_classes=10, max_layers=3, units=(8, 16, 32))
    settings = TrainSettings(epochs=2, batch_size=64, max_batches_per_epoch=3, record_batches=True)
    evaluator = Evaluator(DataSource("digits"), space, settings, device="cpu", threads=1, builder=build_dense_network)
    keeper = GrowthKeeper(evaluator.record)
    toolbox = base.Toolbox()
    toolbox.register("individual", init_dense, creator.DenseIndividual, space)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_dense, space=space)
    toolbox.register("mutate", mut_dense, space=space)
    toolbox.register("select_mates", sel_best_plus_random)
    toolbox.register("select", tools.selBest)
    toolbox.register("evaluate", keeper)
    toolbox.register("map", map)
    random.seed(3)
    population = toolbox.population(n=6)
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("max", max)
    with ResultsStore(tmp_path / "results.sqlite", fingerprint=evaluator.fingerprint()) as store:
        population, logbook = ea_cnn_ga(
            population,
            toolbox,
            ngen=2,
            stats=stats,
            cache=EvaluationCache(store),
            checkpoint=tmp_path / "checkpoint.pkl",
            verbose=False,
        )
        assert len(store) == len(keeper.growth) == sum(logbook.select("nevals"))
        assert all(row["status"] == "ok" and len(row["val_accuracy"]) == 2 for row in store.records())
    assert all(space.is_valid(ind) and ind.fitness.valid for ind in population)
    best = logbook.select("max")
    assert all(later >= earlier for earlier, later in zip(best, best[1:], strict=False))  # selBest keeps the best
    assert all(len(batches) == 2 and all(len(b) == 3 for b in batches) for batches, _ in keeper.growth.values())
    state = load_checkpoint(tmp_path / "checkpoint.pkl")
    assert state["generation"] == 2 and [str(i) for i in state["population"]] == [str(i) for i in population]
