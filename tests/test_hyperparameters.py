"""Hyperparameter genes attached to CNN-GA genomes: genes, operators, text, copies, training, network, importance."""

from __future__ import annotations

import copy
import math
import pickle
import random
import sqlite3
import statistics
from collections import Counter

import pytest
import torch
from conftest import genomes, search_spaces
from deap import base, creator, tools
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from deap_cnn import (
    Genome,
    GenomeError,
    SearchSpace,
    SearchSpaceError,
    cx_one_point,
    mut_cnn_ga,
)
from deap_cnn.families.hyper.genes import (
    ACTIVATION_NAMES,
    CHOICE_GENES,
    GENE_NAMES,
    OPTIMIZER_NAMES,
    HyperParams,
    HyperSpace,
    crossover_hyper,
    mutable_genes,
    mutate_hyper,
    random_hyper,
)
from deap_cnn.families.hyper.genome import (
    HyperCnnGenome,
    HyperSearchSpace,
    cx_arch_hyper,
    cx_hyper,
    hyper_genome_class,
    init_arch_hyper,
    mut_arch_hyper,
    mut_hyper,
)

if not hasattr(creator, "HyperIndividual"):
    creator.create("HyperIndividual", HyperCnnGenome, fitness=creator.FitnessMax)

try:  # the DEvol family, when present: the same attachment, another architecture
    from deap_cnn.families.devol.genome import DevolGenome
    from deap_cnn.families.devol.operators import (
        cx_devol,
        mut_devol,
        random_devol_genes,
    )
    from deap_cnn.families.devol.space import DevolSpace
except ImportError:  # pragma: no cover
    DevolGenome = None
else:
    #: Bound at module level under its own name, so pickling finds it.
    HyperDevolGenome = hyper_genome_class(DevolGenome, name="HyperDevolGenome", module=__name__)
    if not hasattr(creator, "HyperDevolIndividual"):
        creator.create("HyperDevolIndividual", HyperDevolGenome, fitness=creator.FitnessMax)
needs_devol = pytest.mark.skipif(DevolGenome is None, reason="deap_cnn.devol is not there")


# --- strategies -------------------------------------------------------------------

LOG_VALUES = [1e-6, 1e-5, 3e-5, 1e-4, 0.000316, 1e-3, 0.01, 0.05, 0.1, 0.3]
DROPOUT_VALUES = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9]


@st.composite
def log_ranges(draw):
    low, high = sorted(draw(st.lists(st.sampled_from(LOG_VALUES), min_size=2, max_size=2)))
    return (low, high)


@st.composite
def hyper_spaces(draw):
    low, high = sorted(draw(st.lists(st.sampled_from(DROPOUT_VALUES), min_size=2, max_size=2)))
    return HyperSpace(
        lr_range=draw(log_ranges()),
        weight_decay_range=draw(log_ranges()),
        batch_sizes=tuple(draw(st.lists(st.sampled_from([8, 16, 32, 64, 128]), min_size=1, max_size=4, unique=True))),
        optimizers=tuple(draw(st.lists(st.sampled_from(OPTIMIZER_NAMES), min_size=1, max_size=4, unique=True))),
        dropout_range=(low, high),
        activations=tuple(draw(st.lists(st.sampled_from(ACTIVATION_NAMES), min_size=1, max_size=5, unique=True))),
        kernel_sizes=tuple(draw(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3, unique=True))),
        log_sigma=draw(st.sampled_from([0.05, 0.3, 1.0])),
        dropout_sigma=draw(st.sampled_from([0.01, 0.1, 0.5])),
    )


def hypers(space):
    return st.integers(0, 2**32 - 1).map(lambda seed: random_hyper(space, random.Random(seed)))


@st.composite
def space_and_hyper(draw, n=1):
    space = draw(hyper_spaces())
    return space, [draw(hypers(space)) for _ in range(n)]


ARCH_SPACES = search_spaces(input_shapes=[(1, 28, 28), (3, 32, 32), (1, 8, 8)], max_skip_cap=6)


@st.composite
def combined_cases(draw, n=2):
    """A combined space and ``n`` valid creator individuals in it, each with a fitness."""
    space = HyperSearchSpace(draw(ARCH_SPACES), draw(hyper_spaces()))
    individuals = []
    for _ in range(n):
        ind = creator.HyperIndividual(draw(genomes(space.arch)), draw(hypers(space.hyper)))
        ind.fitness.values = (draw(st.floats(0, 1)),)
        individuals.append(ind)
    return space, individuals


# --- the genes and their text --------------------------------------------------------


@given(space_and_hyper())
def test_random_genes_are_valid_and_their_text_round_trips(case):
    space, (hyper,) = case
    assert space.violations(hyper) == []
    text = str(hyper)
    assert HyperParams.from_string(text) == hyper
    assert str(HyperParams.from_string(text)) == text


def test_canonical_text_and_defaults():
    hyper = HyperParams(
        lr=0.01, weight_decay=0.0005, batch_size=128, optimizer="sgd", dropout=0.2, activation="relu", kernel_size=3
    )
    assert str(hyper) == "lr=0.01,wd=0.0005,bs=128,opt=sgd,drop=0.2,act=relu,k=3"
    # the defaults are CNN-GA's own training and network
    assert HyperParams().training_overrides() == {
        "lr": 0.05,
        "weight_decay": 5e-4,
        "batch_size": 128,
        "optimizer": "sgd",
    }
    assert HyperParams().network_options() == {"activation": "relu", "kernel_size": 3, "dropout": 0.0}
    # floats are rounded to what the text can name
    assert HyperParams(lr=0.0123456).lr == 0.0123 and HyperParams(dropout=0.123).dropout == 0.12


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("lr=0.01,wd=0.0005,bs=128,opt=sgd,drop=0.2,act=relu", "lacks ['k']"),
        ("lr=0.01,wd=0.0005,bs=128,opt=sgd,drop=0.2,act=relu,k=3,x=1", "'x=1'"),
        ("lr=0.01,lr=0.02,wd=0.0005,bs=128,opt=sgd,drop=0.2,act=relu,k=3", "appears twice"),
        ("lr=fast,wd=0.0005,bs=128,opt=sgd,drop=0.2,act=relu,k=3", "not a number"),
        ("lr=0.01,wd=0.0005,bs=128,opt=lbfgs,drop=0.2,act=relu,k=3", "optimizer"),
        ("lr=0.01,wd=0.0005,bs=128,opt=sgd,drop=1.2,act=relu,k=3", "dropout"),
        ("", "non-empty"),
    ],
)
def test_bad_text_names_the_problem(text, fragment):
    with pytest.raises(GenomeError, match=None) as error:
        HyperParams.from_string(text)
    assert fragment in str(error.value)


@pytest.mark.parametrize(
    "options, fragment",
    [
        (dict(lr_range=(0.0, 0.1)), "lr_range"),
        (dict(lr_range=(0.1, 0.01)), "lr_range"),
        (dict(weight_decay_range=(1.2345e-5, 1e-3)), "significant digits"),
        (dict(dropout_range=(0.5, 1.0)), "dropout_range"),
        (dict(optimizers=("sgd", "lbfgs")), "optimizers"),
        (dict(activations=()), "activations"),
        (dict(batch_sizes=(0, 32)), "batch_sizes"),
        (dict(log_sigma=0), "log_sigma"),
    ],
)
def test_bad_hyper_spaces_are_refused(options, fragment):
    with pytest.raises(SearchSpaceError) as error:
        HyperSpace(**options)
    assert fragment in str(error.value)


def test_the_name_lists_agree_with_the_torch_side():
    from deap_cnn.families.layers import ACTIVATIONS
    from deap_cnn.training.settings import OPTIMIZERS

    assert OPTIMIZER_NAMES == OPTIMIZERS
    assert ACTIVATION_NAMES == ACTIVATIONS
    assert GENE_NAMES == tuple(HyperParams().as_dict())


# --- operators on the genes ----------------------------------------------------------


@given(space_and_hyper(), st.integers(0, 2**32 - 1))
def test_mutation_changes_exactly_one_gene_and_stays_in_the_space(case, seed):
    space, (hyper,) = case
    mutated = mutate_hyper(hyper, space, random.Random(seed))
    assert space.violations(mutated) == []
    changed = [g for g in GENE_NAMES if getattr(mutated, g) != getattr(hyper, g)]
    if mutable_genes(hyper, space):
        assert len(changed) == 1
    else:
        assert changed == []


@given(space_and_hyper(), st.sampled_from(CHOICE_GENES), st.integers(0, 2**32 - 1))
def test_a_choice_gene_is_resampled_to_another_choice(case, gene, seed):
    space, (hyper,) = case
    mutated = mutate_hyper(hyper, space, random.Random(seed), gene=gene)
    if len(space.choices(gene)) > 1:
        assert getattr(mutated, gene) != getattr(hyper, gene)
        assert getattr(mutated, gene) in space.choices(gene)
    else:
        assert mutated == hyper


@pytest.mark.parametrize("start", [1e-5, 1e-2])
def test_learning_rate_mutation_is_gaussian_on_a_log_scale(start):
    space = HyperSpace(lr_range=(1e-9, 10.0), log_sigma=0.3)
    rng = random.Random(3)
    steps = [math.log10(mutate_hyper(HyperParams(lr=start), space, rng, gene="lr").lr / start) for _ in range(2000)]
    # a log-scale step is the same in decades wherever it starts: median |N(0, 0.3)| = 0.3 * 0.674
    assert statistics.median(abs(s) for s in steps) == pytest.approx(0.3 * 0.674, rel=0.15)
    assert abs(statistics.mean(steps)) < 0.03


def test_mutation_is_clipped_to_the_bounds():
    space = HyperSpace(
        lr_range=(1e-3, 1e-2),
        weight_decay_range=(1e-5, 1e-4),
        dropout_range=(0.0, 0.3),
        log_sigma=3.0,
        dropout_sigma=1.0,
    )
    rng = random.Random(0)
    hyper = HyperParams(lr=1e-3, weight_decay=1e-5, dropout=0.3)
    seen = Counter()
    for _ in range(300):
        for gene in ("lr", "weight_decay", "dropout"):
            mutated = mutate_hyper(hyper, space, rng, gene=gene)
            assert space.violations(mutated) == []
            seen[(gene, getattr(mutated, gene))] += 1
    # wide steps pile up at the far bound rather than leaving the range
    assert seen[("lr", 1e-2)] > 50 and seen[("dropout", 0.0)] > 50


@given(space_and_hyper(n=2), st.integers(0, 2**32 - 1))
def test_uniform_crossover_swaps_whole_genes(case, seed):
    space, (first, second) = case
    child1, child2 = crossover_hyper(first, second, random.Random(seed))
    for gene in GENE_NAMES:
        pair = {getattr(child1, gene), getattr(child2, gene)}
        assert pair == {getattr(first, gene), getattr(second, gene)}
        # each gene swapped or kept as a unit: the two children split the parents' values
        assert sorted(map(str, [getattr(child1, gene), getattr(child2, gene)])) == sorted(
            map(str, [getattr(first, gene), getattr(second, gene)])
        )
    assert space.violations(child1) == [] and space.violations(child2) == []


def test_uniform_crossover_mixes_genes_from_both_parents():
    first = HyperParams(
        lr=0.01, weight_decay=1e-5, batch_size=32, optimizer="sgd", dropout=0.1, activation="relu", kernel_size=3
    )
    second = HyperParams(
        lr=0.1, weight_decay=1e-3, batch_size=256, optimizer="adam", dropout=0.4, activation="elu", kernel_size=5
    )
    rng = random.Random(1)
    mixed = 0
    for _ in range(50):
        child, _ = crossover_hyper(first, second, rng)
        from_first = sum(getattr(child, g) == getattr(first, g) for g in GENE_NAMES)
        mixed += 0 < from_first < len(GENE_NAMES)
    assert mixed > 40


# --- the genes attached to CNN-GA genomes -------------------------------------------------


@given(combined_cases(n=1))
def test_combined_text_round_trips_and_validates(case):
    space, (ind,) = case
    text = str(ind)
    assert text == f"{Genome(ind)}|{ind.hyper}"
    parsed = HyperCnnGenome.from_string(text)
    assert parsed == ind and str(parsed) == text
    assert isinstance(space.validate(text), HyperCnnGenome)
    assert creator.HyperIndividual.from_string(text).hyper == ind.hyper


def test_validate_names_the_broken_rule_of_each_part():
    space = HyperSearchSpace(SearchSpace(input_shape=(1, 28, 28), widths=(8, 16)), HyperSpace())
    good = "S8-Pmax-S16|lr=0.01,wd=0.0005,bs=128,opt=sgd,drop=0.2,act=relu,k=3"
    assert str(space.validate(good)) == good
    with pytest.raises(GenomeError, match="width choices"):
        space.validate(good.replace("S16", "S32"))
    with pytest.raises(GenomeError, match="batch_size choices"):
        space.validate(good.replace("bs=128", "bs=100"))
    with pytest.raises(GenomeError, match="lr range"):
        space.validate(good.replace("lr=0.01", "lr=0.5"))
    with pytest.raises(GenomeError, match="<architecture>\\|<hyperparameters>"):
        space.validate("S8-Pmax-S16")
    with pytest.raises(GenomeError, match="no hyperparameter genes"):
        space.validate(Genome.from_string("S8-Pmax-S16"))
    assert space.input_shape == (1, 28, 28) and space.n_classes == 10


@given(combined_cases(n=2), st.integers(0, 2**32 - 1))
def test_combined_crossover_keeps_validity_and_the_parents_genes(case, seed):
    space, (ind1, ind2) = case
    fitness = (ind1.fitness.values, ind2.fitness.values)
    arch_genes = Counter(list(ind1) + list(ind2))
    hyper_values = {g: sorted(map(str, (getattr(ind1.hyper, g), getattr(ind2.hyper, g)))) for g in GENE_NAMES}
    result = cx_arch_hyper(ind1, ind2, space, cx_one_point, rng=random.Random(seed))
    assert isinstance(result, tuple) and result[0] is ind1 and result[1] is ind2
    assert space.violations(ind1) == [] and space.violations(ind2) == []
    assert Counter(list(ind1) + list(ind2)) == arch_genes  # CNN-GA's crossover only rearranges
    for gene in GENE_NAMES:
        assert sorted(map(str, (getattr(ind1.hyper, gene), getattr(ind2.hyper, gene)))) == hyper_values[gene]
    assert (ind1.fitness.values, ind2.fitness.values) == fitness  # left to the loop
    assert type(ind1) is creator.HyperIndividual


@given(combined_cases(n=1), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.5, 1.0]))
def test_combined_mutation_keeps_validity_and_changes_the_genome(case, seed, hyper_prob):
    space, (ind,) = case
    before_arch, before_hyper, fitness = list(ind), ind.hyper, ind.fitness.values
    result = mut_arch_hyper(ind, space, mut_cnn_ga, rng=random.Random(seed), hyper_prob=hyper_prob)
    assert result == (ind,) and result[0] is ind
    assert space.violations(ind) == []
    assert ind.fitness.values == fitness
    can_hyper = bool(mutable_genes(before_hyper, space.hyper))
    changed_arch, changed_hyper = list(ind) != before_arch, ind.hyper != before_hyper
    if hyper_prob == 1.0 and can_hyper:
        assert changed_hyper and not changed_arch
    if hyper_prob == 0.0:
        assert not changed_hyper or not changed_arch
    if can_hyper:
        assert changed_arch or changed_hyper


@given(combined_cases(n=1), st.integers(0, 2**32 - 1))
def test_hyper_only_operators_leave_the_architecture(case, seed):
    space, (ind,) = case
    other = copy.deepcopy(ind)
    before = list(ind), list(other)
    cx_hyper(ind, other, space, rng=random.Random(seed))
    mut_hyper(ind, space, rng=random.Random(seed))
    assert (list(ind), list(other)) == before
    assert space.violations(ind) == [] and space.violations(other) == []


def test_init_builds_valid_random_individuals():
    space = HyperSearchSpace(SearchSpace(input_shape=(1, 28, 28), widths=(8, 16), max_skip_units=3))
    rng = random.Random(0)
    population = [init_arch_hyper(creator.HyperIndividual, space, rng=rng) for _ in range(20)]
    assert all(type(ind) is creator.HyperIndividual and space.is_valid(ind) for ind in population)
    assert len({str(ind.hyper) for ind in population}) == 20
    assert not population[0].fitness.valid


# --- copies, pickles, equality -------------------------------------------------------


def test_clone_and_pickle_keep_the_hyper_genes():
    ind = creator.HyperIndividual.from_string("S8-Pmax-S16|lr=0.01,wd=0.0005,bs=64,opt=adam,drop=0.3,act=elu,k=5")
    ind.fitness.values = (0.5,)
    toolbox = base.Toolbox()  # clone is copy.deepcopy
    for copied in (toolbox.clone(ind), pickle.loads(pickle.dumps(ind, protocol=pickle.HIGHEST_PROTOCOL))):
        assert type(copied).__name__ == "HyperIndividual"
        assert copied.hyper == ind.hyper and list(copied) == list(ind) and str(copied) == str(ind)
        assert copied.fitness.values == (0.5,)
    clone = toolbox.clone(ind)
    clone.hyper = mutate_hyper(clone.hyper, HyperSpace(), random.Random(0))
    assert ind.hyper == HyperParams.from_string("lr=0.01,wd=0.0005,bs=64,opt=adam,drop=0.3,act=elu,k=5")


def test_equality_needs_equal_hyper_genes_so_a_hall_of_fame_keeps_both():
    first = creator.HyperIndividual.from_string("S8-S16|lr=0.01,wd=0.0005,bs=64,opt=adam,drop=0.3,act=elu,k=5")
    second = creator.HyperIndividual.from_string("S8-S16|lr=0.02,wd=0.0005,bs=64,opt=adam,drop=0.3,act=elu,k=5")
    assert first != second and first == copy.deepcopy(first)
    assert first != Genome.from_string("S8-S16") and Genome.from_string("S8-S16") != first
    first.fitness.values, second.fitness.values = (0.9,), (0.8,)
    hall = tools.HallOfFame(2)
    hall.update([first, second])
    assert len(hall) == 2


def test_the_attachment_is_generic_over_the_architecture_class():
    class Tokens(list):
        """A toy architecture family: dash-separated tokens."""

        @classmethod
        def from_string(cls, text):
            return cls(text.split("-"))

        def __str__(self):
            return "-".join(self)

    HyperTokens = hyper_genome_class(Tokens, module=__name__)
    genome = HyperTokens.from_string("a-b-c|lr=0.01,wd=0.0005,bs=64,opt=adam,drop=0.3,act=elu,k=5")
    assert list(genome) == ["a", "b", "c"] and genome.hyper.optimizer == "adam"
    assert isinstance(genome, Tokens) and genome.arch_text == "a-b-c"
    assert str(genome) == "a-b-c|lr=0.01,wd=0.0005,bs=64,opt=adam,drop=0.3,act=elu,k=5"


# --- attached to DEvol ------------------------------------------------------------------

DEVOL_HYPER = HyperSpace(activations=("relu",), kernel_sizes=(3,), dropout_range=(0.0, 0.0), batch_sizes=(16, 32))


@st.composite
def devol_cases(draw, n=2):
    space = HyperSearchSpace(
        DevolSpace(input_shape=(1, 28, 28)), draw(st.one_of(st.just(DEVOL_HYPER), hyper_spaces())), HyperDevolGenome
    )
    individuals = []
    for _ in range(n):
        seed = draw(st.integers(0, 2**32 - 1))
        ind = init_arch_hyper(
            creator.HyperDevolIndividual, space, arch_init=random_devol_genes, rng=random.Random(seed)
        )
        ind.fitness.values = (0.25,)
        individuals.append(ind)
    return space, individuals


@needs_devol
@settings(max_examples=50)
@given(devol_cases(), st.integers(0, 2**32 - 1))
def test_devol_genomes_take_hyper_genes_too(case, seed):
    space, (ind1, ind2) = case
    assert space.violations(ind1) == []
    text = str(ind1)
    assert text == f"{DevolGenome(ind1)}|{ind1.hyper}"  # DEvol's own text uses '|' between layers
    assert space.validate(text) == ind1 and creator.HyperDevolIndividual.from_string(text).hyper == ind1.hyper
    positions = [sorted(map(str, pair)) for pair in zip(ind1, ind2, strict=True)]
    rng = random.Random(seed)
    assert cx_arch_hyper(ind1, ind2, space, cx_devol, rng=rng) == (ind1, ind2)
    # DEvol's crossover keeps positions
    assert [sorted(map(str, pair)) for pair in zip(ind1, ind2, strict=True)] == positions
    before = str(ind1)
    assert mut_arch_hyper(ind1, space, mut_devol, rng=rng) == (ind1,)
    assert space.violations(ind1) == [] and space.violations(ind2) == []
    assert str(ind1) != before
    assert ind1.fitness.values == (0.25,)
    copied = pickle.loads(pickle.dumps(ind1))
    assert copied == ind1 and str(copied) == str(ind1) and type(copied).__name__ == "HyperDevolIndividual"


@needs_devol
def test_devol_with_hyper_genes_trains_with_them_and_builds_its_own_network():
    from deap_cnn.families.devol.network import build_devol_network
    from deap_cnn.families.hyper.network import HyperBuilder
    from deap_cnn.training.evaluator import Evaluator

    space = HyperSearchSpace(DevolSpace(input_shape=(1, 28, 28)), DEVOL_HYPER, HyperDevolGenome)
    text = "C+8,relu,0.0,bn,mp|C-16,sigmoid,0.0,-,-|C+16,relu,0.1,-,mp|D+32,relu,0.0,-|D-16,relu,0.0,-|sgd|lr=0.003,wd=1e-05,bs=16,opt=adam,drop=0,act=relu,k=3"
    genome = space.validate(text)
    assert genome.optimizer == "sgd"  # the DEvol gene is still there ...
    assert genome.training_overrides()["optimizer"] == "adam"  # ... but the attached gene decides
    assert genome.training_overrides()["lr"] == 0.003
    builder = pickle.loads(pickle.dumps(HyperBuilder(build_devol_network)))
    model = builder(genome, (1, 28, 28), 10)
    assert [type(m) for m in model.modules()] == [
        type(m) for m in build_devol_network(DevolGenome(genome), (1, 28, 28), 10).modules()
    ]
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    evaluator = Evaluator("sample", space, _tiny_settings(), device="cpu", threads=1, builder=builder)
    record = evaluator.record(text)
    assert record.status == "ok", record.error
    assert record.batch_size == 16 and record.genome == text


# --- the network -------------------------------------------------------------------------


def _modules(model, kind):
    return [m for m in model.modules() if isinstance(m, kind)]


def test_default_genes_build_exactly_cnn_ga_s_network():
    from deap_cnn.families.cnn_ga.network import build_network
    from deap_cnn.families.hyper.network import build_hyper_network

    genome = HyperCnnGenome(Genome.from_string("S8-Pmax-S16"), HyperParams())
    torch.manual_seed(0)
    plain = build_network(Genome(genome), (1, 28, 28), 10)
    torch.manual_seed(0)
    hyper = build_hyper_network(genome, (1, 28, 28), 10)
    assert [type(m) for m in plain.modules()] == [type(m) for m in hyper.modules()]
    assert plain.state_dict().keys() == hyper.state_dict().keys()
    assert all(torch.equal(plain.state_dict()[k], hyper.state_dict()[k]) for k in plain.state_dict())
    assert not _modules(hyper, nn.Dropout)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize(
    "activation, kind", [("elu", nn.ELU), ("leaky_relu", nn.LeakyReLU), ("gelu", nn.GELU), ("silu", nn.SiLU)]
)
def test_network_genes_reach_the_layers(shape, activation, kind):
    from deap_cnn.families.hyper.network import HyperBuilder, build_hyper_network

    hyper = HyperParams(activation=activation, kernel_size=5, dropout=0.3)
    genome = HyperCnnGenome(Genome.from_string("S8-Pmax-S16-Pmean"), hyper)
    for builder in (build_hyper_network, pickle.loads(pickle.dumps(HyperBuilder()))):
        model = builder(genome, shape, 7)
        assert len(_modules(model, kind)) == 4 and not _modules(model, nn.ReLU)
        body_convs = [m for m in _modules(model, nn.Conv2d) if m.kernel_size != (1, 1)]
        assert len(body_convs) == 4 and all(m.kernel_size == (5, 5) for m in body_convs)
        assert [m.p for m in _modules(model, nn.Dropout)] == [0.3]
        out = model(torch.randn(3, *shape))
        assert out.shape == (3, 7) and torch.isfinite(out).all()


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kernel_size", [1, 2, 4])
def test_any_kernel_size_keeps_the_map_size(kernel_size):
    from deap_cnn.families.cnn_ga.network import SkipUnit

    unit = SkipUnit(3, 4, kernel_size=kernel_size)
    assert unit(torch.randn(2, 3, 9, 9)).shape == (2, 4, 9, 9)


# --- training settings and a whole run ----------------------------------------------------

TINY_ARCH = SearchSpace(input_shape=(1, 28, 28), n_classes=10, widths=(4, 8), max_skip_units=2)
TINY_HYPER = HyperSpace(lr_range=(1e-3, 1e-1), batch_sizes=(16, 32), kernel_sizes=(3,), activations=("relu", "elu"))
TINY = HyperSearchSpace(TINY_ARCH, TINY_HYPER)


def _tiny_settings():
    from deap_cnn.training.settings import TrainSettings

    return TrainSettings(epochs=1, batch_size=64, max_batches_per_epoch=2, seed=1)


def test_training_genes_reach_the_evaluator():
    from deap_cnn.families.hyper.network import build_hyper_network
    from deap_cnn.training.evaluator import Evaluator

    evaluator = Evaluator("sample", TINY, _tiny_settings(), device="cpu", threads=1, builder=build_hyper_network)
    text = "S4-Pmax-S8|lr=0.002,wd=1e-05,bs=16,opt=adamw,drop=0.1,act=elu,k=3"
    settings = evaluator.settings_for(TINY.validate(text))
    assert (settings.lr, settings.weight_decay, settings.batch_size, settings.optimizer) == (0.002, 1e-5, 16, "adamw")
    assert settings.epochs == 1  # the rest stays the evaluator's
    record = evaluator.record(text)  # text is parsed by the space, into a genome that carries the genes
    assert record.status == "ok", record.error
    assert record.batch_size == 16 and record.genome == text
    with pytest.raises(GenomeError):
        evaluator.record(text.replace("bs=16", "bs=64"))


def test_a_short_run_through_the_loop_store_checkpoint_and_importance(tmp_path):
    from deap_cnn.families.cnn_ga.operators import sel_environmental
    from deap_cnn.families.hyper.network import build_hyper_network
    from deap_cnn.runs.checkpoint import load_checkpoint
    from deap_cnn.runs.importance import report
    from deap_cnn.runs.store import ResultsStore
    from deap_cnn.search.cache import EvaluationCache
    from deap_cnn.search.ga import ea_cnn_ga
    from deap_cnn.training.evaluator import Evaluator

    evaluator = Evaluator("sample", TINY, _tiny_settings(), device="cpu", threads=1, builder=build_hyper_network)
    toolbox = base.Toolbox()
    toolbox.register("individual", init_arch_hyper, creator.HyperIndividual, TINY)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_arch_hyper, space=TINY, arch_mate=cx_one_point)
    toolbox.register("mutate", mut_arch_hyper, space=TINY, arch_mutate=mut_cnn_ga)
    toolbox.register("select", sel_environmental)
    toolbox.register("evaluate", evaluator.record)

    random.seed(5)
    store_path = tmp_path / "results.sqlite"
    store = ResultsStore(store_path, fingerprint=evaluator.fingerprint())
    population = toolbox.population(n=4)
    population, logbook = ea_cnn_ga(
        population,
        toolbox,
        cxpb=0.9,
        mutpb=0.5,
        ngen=1,
        verbose=False,
        cache=EvaluationCache(store),
        checkpoint=tmp_path / "checkpoint.pkl",
    )
    assert logbook.select("gen") == [0, 1] and logbook[0]["nevals"] == 4
    assert all(type(ind) is creator.HyperIndividual and TINY.is_valid(ind) for ind in population)

    rows = store.records()
    assert len(rows) == sum(logbook.select("nevals"))
    for row in rows:
        genome = TINY.validate(row["genome"])
        assert row["batch_size"] == genome.hyper.batch_size and row["status"] == "ok"

    # resume: the checkpoint's individuals keep their genes, and the store serves them as cache hits
    state = load_checkpoint(tmp_path / "checkpoint.pkl")
    assert [str(ind) for ind in state["population"]] == [str(ind) for ind in population]
    assert all(isinstance(ind.hyper, HyperParams) for ind in state["population"])
    store.close()
    store = ResultsStore(store_path, fingerprint=evaluator.fingerprint())
    resumed = [toolbox.clone(ind) for ind in state["population"]]
    for ind in resumed:
        del ind.fitness.values
    _, resumed_log = ea_cnn_ga(resumed, toolbox, ngen=0, verbose=False, cache=EvaluationCache(store))
    assert resumed_log[0]["nevals"] == 0 and resumed_log[0]["cache_hits"] == 4
    store.close()

    result = report(str(store_path), str(tmp_path / "genes"), verbose=False)
    assert sorted(result["paths"]) == sorted(GENE_NAMES)
    for path in result["paths"].values():
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert {entry["gene"] for entry in result["table"]} == set(GENE_NAMES)


# --- importance --------------------------------------------------------------------------


def test_rank_statistics():
    from deap_cnn.runs.importance import correlation_ratio, rank, spearman

    assert list(rank([10, 20, 20, 30])) == [1.0, 2.5, 2.5, 4.0]
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [5, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert correlation_ratio(["a", "a", "b", "b"], [1, 1, 2, 2]) == pytest.approx(1.0)
    assert correlation_ratio(["a", "b", "a", "b"], [1, 1, 2, 2]) == pytest.approx(0.0)


def test_importance_reads_only_successful_hyper_rows_and_finds_the_gene_that_matters(tmp_path, capsys):
    from deap_cnn.runs.importance import main
    from deap_cnn.runs.store import ResultsStore

    path = tmp_path / "results.sqlite"
    rng = random.Random(0)
    with ResultsStore(path, fingerprint="f") as store:
        for index in range(30):
            hyper = random_hyper(HyperSpace(), rng)
            fitness = 0.5 + 0.1 * math.log10(hyper.lr)  # fitness follows the learning rate alone
            store.add({"genome": f"S{index + 1}|{hyper}", "fitness": (fitness,), "status": "ok"})
        store.add({"genome": "S1-S2", "fitness": (0.99,), "status": "ok"})  # no hyper genes
        store.add(
            {"genome": "C+8,relu,0.0,bn,mp|D+32,relu,0.0,-|adam", "fitness": (0.98,), "status": "ok"}
        )  # '|', no genes
        store.add({"genome": f"S99|{HyperParams()}", "fitness": (0.0,), "status": "failed"})
    result = main([str(path), "--out", str(tmp_path / "genes")])
    assert len(result["rows"]) == 30
    table = {entry["gene"]: entry for entry in result["table"]}
    assert table["lr"]["value"] == pytest.approx(1.0)
    assert abs(table["weight_decay"]["value"]) < 0.5
    printed = capsys.readouterr().out
    assert printed.splitlines()[2].startswith("lr")  # strongest first
    assert len(list((tmp_path / "genes").glob("*.png"))) == len(GENE_NAMES)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 33  # read only
