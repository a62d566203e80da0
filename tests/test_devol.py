"""The DEvol family: genome text, space rules, operators (hypothesis), decoding, the fitness hook, the loop."""

from __future__ import annotations

import copy
import pickle
import random
from collections import Counter

import pytest
import torch
from deap import algorithms, base, creator, tools
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from deap_cnn import GenomeError, SearchSpaceError, sel_environmental
from deap_cnn.families.base import max_pool_units_for
from deap_cnn.families.devol.fitness import (
    FAILED_LOSS,
    devol_objective,
    fitness_accuracy,
    fitness_neg_loss,
)
from deap_cnn.families.devol.genome import (
    ACTIVATIONS,
    CONV_FIELDS,
    DENSE_FIELDS,
    OPTIMIZER_CHOICES,
    DevolGene,
    DevolGenome,
)
from deap_cnn.families.devol.network import build_devol_network
from deap_cnn.families.devol.operators import (
    cx_devol,
    init_devol,
    mut_devol,
    random_devol_genes,
)
from deap_cnn.families.devol.space import DevolSpace
from deap_cnn.runs.checkpoint import load_checkpoint, restore_random_state
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.ga import ea_cnn_ga
from deap_cnn.search.objectives import Objectives
from deap_cnn.training.datasets import from_arrays
from deap_cnn.training.evaluator import Evaluator
from deap_cnn.training.loaders import load_sample
from deap_cnn.training.settings import OPTIMIZERS, EvaluationRecord, TrainSettings

if not hasattr(creator, "DevolIndividual"):
    creator.create("DevolFitnessMax", base.Fitness, weights=(1.0,))
    creator.create("DevolIndividual", DevolGenome, fitness=creator.DevolFitnessMax)
if not hasattr(creator, "DevolSgdIndividual"):
    creator.create("DevolSgdIndividual", DevolGenome, fitness=creator.DevolFitnessMax, learning_rates={"sgd": 0.2})

seeds = st.integers(0, 2**32 - 1)
FITNESS = (0.5,)
EXAMPLE = "C+32,relu,0.25,bn,mp|C-16,sigmoid,0.0,-,-|D+128,relu,0.5,-|adam"

# --- strategies -------------------------------------------------------------------

SHAPES = [(1, 28, 28), (3, 8, 8), (1, 4, 4), (2, 2, 2), (1, 1, 1), (3, 5, 9)]


def subset(values):
    return st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True)


@st.composite
def devol_spaces(draw, shapes=SHAPES):
    shape = draw(st.sampled_from(shapes))
    allowed = max_pool_units_for(shape[1], shape[2])
    return DevolSpace(
        input_shape=shape,
        n_classes=draw(st.integers(2, 6)),
        max_conv_layers=draw(st.integers(0, 5)),
        max_dense_layers=draw(st.integers(0, 3)),
        feature_maps=tuple(draw(subset([2, 4, 8, 16]))),
        units=tuple(draw(subset([3, 8, 16]))),
        activations=tuple(draw(subset(list(ACTIVATIONS)))),
        dropouts=tuple(draw(subset([0.0, 0.1, 0.25, 0.5]))),
        batch_normalization=draw(st.booleans()),
        dropout=draw(st.booleans()),
        max_pooling=draw(st.booleans()),
        optimizers=tuple(draw(subset(list(OPTIMIZER_CHOICES)))),
        max_pool_layers=draw(st.one_of(st.none(), st.integers(0, allowed))),
    )


@st.composite
def drawn_devol_genomes(draw, space):
    """Genes drawn one by one, with switched-on pooling layers made common (then cut to the budget)."""
    genes = []
    for field in space.layout:
        choices = space.choices(field)
        if field in ("conv_active", "max_pooling") and True in choices:
            value = draw(st.sampled_from([True, True, False]))
        else:
            value = draw(st.sampled_from(choices))
        genes.append(DevolGene(field, value))
    budget = space.max_pool_layers
    for n, field in enumerate(space.layout):
        if field == "max_pooling" and genes[n].value and genes[n - len(CONV_FIELDS) + 1].value:
            if budget == 0:
                genes[n] = DevolGene("max_pooling", False)
            else:
                budget -= 1
    return DevolGenome(genes)


def devol_genomes(space):
    seeded = seeds.map(lambda seed: DevolGenome(random_devol_genes(space, random.Random(seed))))
    return st.one_of(seeded, drawn_devol_genomes(space))


@st.composite
def space_and_devol_genomes(draw, n=1, spaces=None):
    space = draw(spaces if spaces is not None else devol_spaces())
    return space, [draw(devol_genomes(space)) for _ in range(n)]


def individual(genome, fitness=FITNESS):
    ind = creator.DevolIndividual(genome)
    if fitness is not None:
        ind.fitness.values = fitness
    return ind


# --- genome text ------------------------------------------------------------------


def test_text_reads_as_documented():
    genome = DevolGenome.from_string(EXAMPLE)
    assert len(genome) == 2 * len(CONV_FIELDS) + len(DENSE_FIELDS) + 1
    first, second = genome.conv_layers
    assert first == (True, 32, "relu", 0.25, True, True)
    assert second == (False, 16, "sigmoid", 0.0, False, False)
    assert genome.dense_layers == [(True, 128, "relu", 0.5, False)]
    assert genome.optimizer == "adam"
    assert genome.pool_count == 1
    assert str(genome) == EXAMPLE
    assert genome.architecture() == "C32,relu,0.25,bn,mp|D128,relu,0.5,-|adam"
    assert DevolGenome.build(genome.conv_layers, genome.dense_layers, "adam") == genome


@given(space_and_devol_genomes())
def test_text_round_trips_and_validate_accepts_it(case):
    space, (genome,) = case
    text = str(genome)
    assert DevolGenome.from_string(text) == genome
    assert str(DevolGenome.from_string(text)) == text
    assert space.validate(text) == genome
    assert space.validate(list(genome)) == genome and isinstance(space.validate(list(genome)), DevolGenome)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "non-empty"),
        ("C+32,relu,0.25,bn,mp", "optimiser"),
        ("C+32,relu,0.25,bn|adam", "cannot parse layer"),
        ("C+32,swish,0.0,-,-|adam", "activation"),
        ("C+32,relu,1.5,-,-|adam", "dropout"),
        ("D+8,relu,0.0,-|C+32,relu,0.0,-,-|adam", "follows a dense layer"),
        ("C+32,relu,0.0,-,-|adagrad", "optimiser"),
    ],
)
def test_bad_text_names_the_problem(text, message):
    with pytest.raises(GenomeError, match=message):
        DevolGenome.from_string(text)


def test_genes_check_their_values():
    with pytest.raises(GenomeError, match="conv_active"):
        DevolGene("conv_active", 1)
    with pytest.raises(GenomeError, match="positive integer"):
        DevolGene("filters", 0)
    with pytest.raises(GenomeError, match="field"):
        DevolGene("kernel", 3)
    with pytest.raises(GenomeError, match="DevolGene"):
        DevolGenome([1, 2, 3])
    assert DevolGene("conv_dropout", 0) == DevolGene("conv_dropout", 0.0)


def test_optimizer_choices_are_the_evaluators():
    assert set(OPTIMIZER_CHOICES) == set(OPTIMIZERS)


# --- the space -----------------------------------------------------------------------


def test_space_rules_are_named():
    space = DevolSpace(input_shape=(1, 4, 4), max_conv_layers=3, max_dense_layers=1, feature_maps=(8, 16))
    assert space.max_pool_layers == 2
    ok = DevolGenome.from_string("C+8,relu,0.0,bn,mp|C+16,relu,0.0,-,mp|C-8,relu,0.0,-,mp|D+16,relu,0.0,-|adam")
    assert space.validate(ok) is ok
    too_deep = ok.from_string(str(ok).replace("C-8", "C+8"))
    with pytest.raises(GenomeError, match="pooling depth"):
        space.validate(too_deep)
    with pytest.raises(GenomeError, match="allowed values.*filters is 32"):
        space.validate(str(ok).replace("C+16", "C+32"))
    with pytest.raises(GenomeError, match="fixed width"):
        space.validate("C+8,relu,0.0,bn,mp|D+16,relu,0.0,-|adam")
    with pytest.raises(GenomeError, match="optimizer is 'adamw'"):
        space.validate(str(ok).replace("adam", "adamw"))


def test_disallowed_options_have_only_their_off_value():
    space = DevolSpace(batch_normalization=False, dropout=False, max_pooling=False)
    assert space.choices("conv_batchnorm") == space.choices("dense_batchnorm") == (False,)
    assert space.choices("conv_dropout") == space.choices("dense_dropout") == (0.0,)
    assert space.choices("max_pooling") == (False,)
    genome = DevolGenome(random_devol_genes(space, random.Random(3)))
    assert not any(layer.batchnorm or layer.max_pooling or layer.dropout for layer in genome.conv_layers)
    assert DevolSpace(input_shape=(3, 1, 1)).choices("max_pooling") == (False,)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"input_shape": (28, 28)}, "input_shape"),
        ({"n_classes": 1}, "n_classes"),
        ({"max_conv_layers": -1}, "max_conv_layers"),
        ({"feature_maps": ()}, "feature_maps"),
        ({"units": (0,)}, "units"),
        ({"activations": ("swish",)}, "activations"),
        ({"dropouts": (1.0,)}, "dropouts"),
        ({"optimizers": ("adagrad",)}, "optimizers"),
        ({"max_pooling": 1}, "max_pooling"),
        ({"input_shape": (1, 4, 4), "max_pool_layers": 3}, "too small"),
    ],
)
def test_space_rejects_bad_settings(change, message):
    with pytest.raises(SearchSpaceError, match=message):
        DevolSpace(**change)


# --- operators ------------------------------------------------------------------------


@given(devol_spaces(), seeds)
def test_init_gives_valid_fixed_width_individuals(space, seed):
    ind = init_devol(creator.DevolIndividual, space, random.Random(seed))
    assert type(ind) is creator.DevolIndividual and not ind.fitness.valid
    assert space.violations(ind) == []
    assert ind.layout == space.layout
    assert ind.pool_count <= max_pool_units_for(*space.input_shape[1:])


@given(space_and_devol_genomes(n=2), seeds)
def test_crossover_is_one_point_on_the_fixed_width(case, seed):
    space, (a, b) = case
    ind1, ind2 = individual(a), individual(b)
    result = cx_devol(ind1, ind2, space, random.Random(seed))
    assert isinstance(result, tuple) and result[0] is ind1 and result[1] is ind2
    assert ind1.fitness.values == ind2.fitness.values == FITNESS  # fitness is the loop's business
    assert space.violations(ind1) == [] and space.violations(ind2) == []
    assert len(ind1) == len(ind2) == space.length
    for position in range(space.length):  # each position keeps its parents' two genes
        assert Counter([ind1[position], ind2[position]]) == Counter([a[position], b[position]])
    if list(ind1) != list(a):  # a real exchange at one cut
        assert list(ind1) != list(b)
        assert any(
            list(ind1) == a[:cut] + b[cut:] and list(ind2) == b[:cut] + a[cut:] for cut in range(1, space.length)
        )
    else:
        assert list(ind2) == list(b)


def test_crossover_leaves_parents_when_every_cut_pools_too_deep():
    space = DevolSpace(
        input_shape=(1, 2, 2), max_conv_layers=2, max_dense_layers=0, feature_maps=(4,), activations=("relu",)
    )
    a = DevolGenome.from_string("C+4,relu,0.0,-,mp|C-4,relu,0.0,-,mp|adam")
    b = DevolGenome.from_string("C-4,relu,0.0,-,mp|C+4,relu,0.0,-,mp|adam")
    ind1, ind2 = individual(a), individual(b)
    # any exchange switches both pooling layers on in one child: 2 poolings of a 2x2 map
    cx_devol(ind1, ind2, space, random.Random(0))
    assert ind1 == a and ind2 == b


@given(space_and_devol_genomes(), seeds)
def test_mutation_changes_one_expressed_gene_within_its_values(case, seed):
    space, (genome,) = case
    ind = individual(genome)
    result = mut_devol(ind, space, random.Random(seed))
    assert isinstance(result, tuple) and len(result) == 1 and result[0] is ind
    assert ind.fitness.values == FITNESS
    assert space.violations(ind) == []
    assert ind.layout == genome.layout
    changed = [n for n in range(len(ind)) if ind[n] != genome[n]]
    assert len(changed) <= 1
    if changed:
        (position,) = changed
        assert ind[position].value in space.choices(ind[position].field)
        assert ind.architecture() != genome.architecture()  # never a silent gene
    else:  # nothing could change: no layer to switch, a single optimiser
        assert space.max_conv_layers == space.max_dense_layers == 0 and len(space.optimizers) == 1


def test_mutation_reaches_every_allowed_value():
    space = DevolSpace(
        max_conv_layers=1,
        max_dense_layers=0,
        feature_maps=(8, 16, 32),
        activations=("relu",),
        dropouts=(0.0,),
        batch_normalization=False,
        max_pooling=False,
        optimizers=("sgd",),
    )
    seen = set()
    rng = random.Random(0)
    for _ in range(60):
        genome = DevolGenome.from_string("C+8,relu,0.0,-,-|sgd")
        mut_devol(genome, space, rng)
        seen.add(str(genome))
    assert seen == {"C+16,relu,0.0,-,-|sgd", "C+32,relu,0.0,-,-|sgd", "C-8,relu,0.0,-,-|sgd"}


@given(space_and_devol_genomes(), seeds, st.sampled_from([0.0, 0.3, 1.0]))
def test_per_gene_mutation_keeps_the_space(case, seed, indpb):
    space, (genome,) = case
    ind = individual(genome)
    mut_devol(ind, space, random.Random(seed), indpb=indpb)
    assert space.violations(ind) == [] and ind.layout == genome.layout and ind.fitness.values == FITNESS
    for position in range(len(ind)):
        assert ind[position].value in space.choices(ind[position].field)
    if indpb == 0.0:
        assert ind == genome


def test_registered_operators_work_with_deap_ea_simple():
    space = DevolSpace(input_shape=(1, 8, 8), max_conv_layers=3, max_dense_layers=2)
    toolbox = base.Toolbox()
    toolbox.register("individual", init_devol, creator.DevolIndividual, space)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_devol, space=space)
    toolbox.register("mutate", mut_devol, space=space)
    toolbox.register("select", tools.selTournament, tournsize=2)
    toolbox.register("evaluate", lambda ind: (sum(layer.active for layer in ind.conv_layers) + ind.pool_count,))
    random.seed(4)
    population, logbook = algorithms.eaSimple(toolbox.population(n=8), toolbox, 0.7, 0.5, 3, verbose=False)
    assert len(logbook) == 4 and all(space.is_valid(ind) and ind.fitness.valid for ind in population)


def test_individuals_copy_and_pickle_with_their_type():
    ind = individual(DevolGenome.from_string(EXAMPLE))
    for twin in (copy.deepcopy(ind), pickle.loads(pickle.dumps(ind))):
        assert twin == ind and str(twin) == EXAMPLE and twin.fitness.values == FITNESS
        assert isinstance(twin, DevolGenome)


# --- decoding ---------------------------------------------------------------------------


@settings(max_examples=25)
@given(space_and_devol_genomes(spaces=devol_spaces(shapes=[(1, 28, 28), (3, 8, 8), (1, 2, 2), (1, 1, 1), (3, 5, 9)])))
def test_every_valid_genome_decodes_and_runs_forward(case):
    space, (genome,) = case
    network = build_devol_network(genome, space.input_shape, space.n_classes).eval()
    out = network(torch.zeros(2, *space.input_shape))
    assert out.shape == (2, space.n_classes)
    convs = [m for m in network if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [layer.filters for layer in genome.conv_layers if layer.active]
    assert sum(isinstance(m, nn.MaxPool2d) for m in network) == genome.pool_count
    linears = [m for m in network if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [d.units for d in genome.dense_layers if d.active] + [space.n_classes]


def test_decoding_follows_devols_layer_order():
    network = build_devol_network(EXAMPLE, (1, 28, 28), 10)
    kinds = [type(m).__name__ for m in network]
    assert kinds == [
        "Conv2d",
        "BatchNorm2d",
        "ReLU",
        "Dropout",
        "MaxPool2d",
        "Flatten",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    assert network[6].in_features == 32 * 14 * 14
    with pytest.raises(ValueError, match="below 1x1"):
        build_devol_network("C+4,relu,0.0,-,mp|C+4,relu,0.0,-,mp|adam", (1, 2, 2), 3)


# --- the optimiser gene and the fitness hook ----------------------------------------------


def test_the_optimizer_gene_sets_the_training_optimizer_and_rate():
    evaluator = Evaluator(load_sample(), DevolSpace(), TrainSettings(), device="cpu")
    adam = DevolGenome.from_string(
        "C+8,relu,0.0,-,-|C-8,relu,0.0,-,-|C-8,relu,0.0,-,-|D-16,relu,0.0,-|D-16,relu,0.0,-|adam"
    )
    settings_adam = evaluator.settings_for(adam)
    assert (settings_adam.optimizer, settings_adam.lr) == ("adam", 1e-3)
    sgd = creator.DevolSgdIndividual(DevolGenome.from_string(str(adam).replace("adam", "sgd")))
    assert (evaluator.settings_for(sgd).optimizer, evaluator.settings_for(sgd).lr) == ("sgd", 0.2)
    creator.DevolSgdIndividual.learning_rates = None
    try:
        assert evaluator.settings_for(sgd).lr == TrainSettings().lr
    finally:
        creator.DevolSgdIndividual.learning_rates = {"sgd": 0.2}


class FakeEvaluator:
    """Records with fixed curves; ``status`` decides success."""

    def __init__(self, status="ok"):
        self.status = status

    def record(self, genome):
        return EvaluationRecord(
            genome=str(genome),
            fitness=(0.0,),
            val_accuracy=[0.4, 0.7, 0.6],
            val_loss=[1.5, 0.9, 1.1],
            status=self.status,
        )

    def fingerprint(self):
        return "fake"


def accuracy_minus_loss(accuracy, loss):
    return accuracy - 0.1 * loss


def hooked(function, evaluator=None, **options):
    """``evaluator`` scored by DEvol's hook ``function``, as ``toolbox.evaluate`` gets it."""
    return Objectives(devol_objective(function, **options)).wrap(evaluator or FakeEvaluator())


def test_the_fitness_hook_scores_the_last_epoch():
    hook = hooked(accuracy_minus_loss)
    assert hook.record("x").fitness == pytest.approx((0.6 - 0.11,))
    assert hook("x") == hook.record("x").fitness
    assert hook.objectives.names == ("accuracy_minus_loss",) and hook.weights == (1.0,)
    assert hooked(fitness_accuracy)("x") == (0.6,)
    assert hooked(fitness_neg_loss)("x") == (-1.1,)
    assert hooked(fitness_neg_loss, direction="minimise", name="neg_loss").objectives.directions == ("minimise",)


def test_the_fitness_hook_gives_failures_the_worst_score():
    objective = devol_objective(accuracy_minus_loss)
    assert objective.worst == 0.0 - 0.1 * FAILED_LOSS
    assert hooked(accuracy_minus_loss, FakeEvaluator(status="oom"))("x") == (objective.worst,)
    assert objective.worst < hooked(accuracy_minus_loss)("x")[0]
    assert hooked(fitness_accuracy, FakeEvaluator("nan"), worst=-1)("x") == (-1.0,)


def infinite(accuracy, loss):
    return float("inf")


def test_the_fitness_hook_refuses_non_finite_scores_and_non_callables():
    with pytest.raises(ValueError, match="the score of a failed candidate: pass worst=value"):
        devol_objective(infinite)
    hook = hooked(infinite, worst=0.0)
    with pytest.raises(ValueError, match="finite"):
        hook("x")
    with pytest.raises(TypeError, match="function must be callable as function\\(accuracy, loss\\)"):
        devol_objective("accuracy")


def test_the_fitness_hook_pickles_and_fingerprints_its_function():
    hook = hooked(accuracy_minus_loss)
    twin = pickle.loads(pickle.dumps(hook))
    assert twin("x") == hook("x")
    assert hook.fingerprint() == twin.fingerprint()
    assert hook.fingerprint() != hooked(fitness_accuracy).fingerprint()


# --- one short run through the loop -----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_images():
    sample = load_sample()
    x = sample.x_train[:240, :, ::2, ::2]  # 14x14
    return from_arrays(
        x.numpy(), sample.y_train[:240].numpy(), x[:40].numpy(), sample.y_train[:40].numpy(), name="tiny"
    )


class Counting:
    """Counts evaluations, passing them on (lives in the test process: the loop maps serially)."""

    def __init__(self, evaluate):
        self.evaluate, self.calls = evaluate, []

    def __call__(self, genome):
        self.calls.append(str(genome))
        return self.evaluate(genome)


def make_devol_toolbox(space, evaluate):
    toolbox = base.Toolbox()
    toolbox.register("individual", init_devol, creator.DevolIndividual, space)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_devol, space=space)
    toolbox.register("mutate", mut_devol, space=space)
    toolbox.register("select", sel_environmental)
    toolbox.register("evaluate", evaluate)
    toolbox.register("map", map)
    return toolbox


def test_a_short_search_runs_through_the_loop_store_and_resume(tiny_images, tmp_path):
    space = DevolSpace(
        input_shape=tiny_images.input_shape,
        n_classes=tiny_images.n_classes,
        max_conv_layers=2,
        max_dense_layers=1,
        feature_maps=(4, 8),
        units=(16,),
        optimizers=("sgd", "adam"),
    )
    settings = TrainSettings(epochs=1, batch_size=32, max_batches_per_epoch=2)
    evaluator = Evaluator(tiny_images, space, settings, device="cpu", threads=1, builder=build_devol_network)
    hook = Objectives(devol_objective(accuracy_minus_loss)).wrap(evaluator)
    counting = Counting(hook.record)
    toolbox = make_devol_toolbox(space, counting)
    random.seed(1)
    population = toolbox.population(n=4)
    store = ResultsStore(tmp_path / "results.sqlite", fingerprint=hook.fingerprint())
    checkpoint = tmp_path / "checkpoint.pkl"
    hof = tools.HallOfFame(1)
    population, logbook = ea_cnn_ga(
        population, toolbox, ngen=1, halloffame=hof, cache=EvaluationCache(store), checkpoint=checkpoint, verbose=False
    )
    assert all(space.is_valid(ind) and ind.fitness.valid for ind in population)
    assert len(counting.calls) == len(set(counting.calls)) == len(store) == sum(logbook.select("nevals"))
    rows = store.records()
    assert all(row["status"] == "ok" for row in rows)
    assert all(row["fitness"][0] == pytest.approx(row["val_accuracy"][-1] - 0.1 * row["val_loss"][-1]) for row in rows)
    assert hof[0].fitness.values[0] == max(row["fitness"][0] for row in rows)
    store.close()

    # Resume one more generation in a fresh cache over the same store: stored genomes are never trained again.
    state = load_checkpoint(checkpoint)
    restore_random_state(state["random_state"])
    before = list(counting.calls)
    with ResultsStore(tmp_path / "results.sqlite", fingerprint=hook.fingerprint()) as store:
        population, logbook = ea_cnn_ga(
            state["population"],
            toolbox,
            ngen=2,
            halloffame=state["halloffame"],
            logbook=state["logbook"],
            start_gen=state["generation"] + 1,
            cache=EvaluationCache(store),
            verbose=False,
        )
        assert logbook.select("gen") == [0, 1, 2]
        assert not set(counting.calls[len(before) :]) & set(before)
        assert len(store) == len(set(counting.calls))
    assert all(space.is_valid(ind) for ind in population)
