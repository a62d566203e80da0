"""Transfer learning over torchvision backbones: genome, space, operators, weights, decoding, training, a run."""

from __future__ import annotations

import math
import pickle
import random
import statistics
import warnings
from collections import Counter

import pytest
import torch
from deap import base, creator, tools
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from deap_cnn import GenomeError, SearchSpaceError
from deap_cnn.families.transfer import FAMILY
from deap_cnn.families.transfer.genome import TRANSFER_GENES, TransferGenome
from deap_cnn.families.transfer.operators import (
    changeable_genes,
    cx_two_point,
    init_transfer_genome,
    mut_transfer,
    random_transfer_genome,
)
from deap_cnn.families.transfer.space import TransferSpace

if not hasattr(creator, "TransferIndividual"):
    creator.create("TransferIndividual", TransferGenome, fitness=creator.FitnessMax)


# --- strategies -------------------------------------------------------------------

LR_VALUES = [1e-6, 1e-5, 3.16e-5, 1e-3, 0.05, 0.1]
DROPOUT_VALUES = [0.0, 0.1, 0.35, 0.5, 0.9]


@st.composite
def transfer_spaces(draw):
    lr = sorted(draw(st.lists(st.sampled_from(LR_VALUES), min_size=2, max_size=2)))
    dropout = sorted(draw(st.lists(st.sampled_from(DROPOUT_VALUES), min_size=2, max_size=2)))
    return TransferSpace(
        n_layers=draw(st.one_of(st.just(1), st.just(2), st.integers(1, 120))),
        input_shape=(1, 28, 28),
        n_classes=10,
        lr_range=tuple(lr),
        dropout_range=tuple(dropout),
        layer_sigma=draw(st.sampled_from([0.01, 0.1, 1.0])),
        log_sigma=draw(st.sampled_from([0.1, 0.5, 3.0])),
        dropout_sigma=draw(st.sampled_from([0.01, 0.1, 2.0])),
    )


@st.composite
def drawn_transfer_genes(draw, space):
    """Genes biased towards the bounds (kept = 1 or n, frozen = 0 or kept, range ends)."""
    kept = draw(st.one_of(st.just(1), st.just(space.n_layers), st.integers(1, space.n_layers)))
    frozen = draw(st.one_of(st.just(0), st.just(kept), st.integers(0, kept)))
    lr = draw(st.one_of(st.sampled_from(space.lr_range), st.floats(*space.lr_range)))
    dropout = draw(st.one_of(st.sampled_from(space.dropout_range), st.floats(*space.dropout_range)))
    genes = TransferGenome([kept, frozen, lr, dropout])
    low, high = space.lr_range  # rounding a float drawn near a bound may cross it: clip like the operators do
    genes[2] = min(max(genes[2], low), high)
    low, high = space.dropout_range
    genes[3] = min(max(genes[3], low), high)
    return list(genes)


def transfer_genes(space):
    seeded = st.integers(0, 2**32 - 1).map(lambda seed: random_transfer_genome(space, random.Random(seed)))
    return st.one_of(seeded, drawn_transfer_genes(space))


@st.composite
def transfer_cases(draw, n=1):
    space = draw(transfer_spaces())
    individuals = []
    for _ in range(n):
        ind = creator.TransferIndividual(draw(transfer_genes(space)))
        ind.fitness.values = (draw(st.floats(-5, 0)),)
        individuals.append(ind)
    return space, individuals


# --- genome, text, space -------------------------------------------------------------


@given(transfer_cases())
def test_random_genomes_are_valid_and_their_text_round_trips(case):
    space, (ind,) = case
    assert space.violations(ind) == []
    text = str(ind)
    assert TransferGenome.from_string(text) == ind
    assert str(TransferGenome.from_string(text)) == text
    assert space.validate(text) == ind


def test_canonical_text_rounding_and_overrides():
    genome = TransferGenome([42, 10, 0.000316227766, 0.3512])
    assert str(genome) == "keep=42,freeze=10,lr=0.000316,drop=0.35"
    assert (genome.kept, genome.frozen, genome.lr, genome.dropout) == (42, 10, 0.000316, 0.35)
    assert genome.training_overrides() == {"lr": 0.000316}
    genome[2] = 0.0123456  # item assignment rounds as the text does
    assert genome.lr == 0.0123 and str(genome).endswith("lr=0.0123,drop=0.35")
    tools.cxTwoPoint(genome, TransferGenome([3, 1, 1e-5, 0.8]))  # DEAP's own operator keeps the types
    assert [type(v) for v in genome] == [int, int, float, float]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("keep=4,freeze=1,lr=0.001", "keys"),
        ("freeze=1,keep=4,lr=0.001,drop=0.5", "keys"),
        ("keep=four,freeze=1,lr=0.001,drop=0.5", "integers"),
        ("keep=4,freeze=1,lr=0,drop=0.5", "lr must be > 0"),
        ("", "non-empty"),
    ],
)
def test_bad_text_names_the_problem(text, fragment):
    with pytest.raises(GenomeError) as error:
        TransferGenome.from_string(text)
    assert fragment in str(error.value)


def test_validate_names_each_broken_rule():
    space = TransferSpace(n_layers=42, input_shape=(1, 28, 28))
    assert space.validate("keep=42,freeze=42,lr=1e-06,drop=0.9")
    cases = {
        "keep=43,freeze=0,lr=0.001,drop=0.5": "kept layers",
        "keep=0,freeze=0,lr=0.001,drop=0.5": "kept layers",
        "keep=5,freeze=6,lr=0.001,drop=0.5": "frozen <= kept",
        "keep=5,freeze=-1,lr=0.001,drop=0.5": "frozen layers",
        "keep=5,freeze=1,lr=0.5,drop=0.5": "lr range",
        "keep=5,freeze=1,lr=0.001,drop=0.95": "dropout range",
    }
    for text, rule in cases.items():
        with pytest.raises(GenomeError, match=rule):
            space.validate(text)
    assert space.violations([1, 0, 0.01]) and "length" in space.violations([1, 0, 0.01])[0]


@pytest.mark.parametrize(
    "options",
    [
        dict(n_layers=0),
        dict(n_layers=5, lr_range=(0, 0.1)),
        dict(n_layers=5, lr_range=(1.2345e-4, 0.1)),
        dict(n_layers=5, dropout_range=(0.5, 1.0)),
        dict(n_layers=5, input_shape=(28, 28)),
        dict(n_layers=5, log_sigma=0),
    ],
)
def test_bad_spaces_are_refused(options):
    with pytest.raises(SearchSpaceError):
        TransferSpace(**options)


def test_defaults_are_the_papers_ranges():
    space = TransferSpace(n_layers=58)
    assert space.lr_range == (1e-6, 1e-1) and space.dropout_range == (0.1, 0.9)


# --- operators ----------------------------------------------------------------------


@given(transfer_cases(n=2), st.integers(0, 2**32 - 1))
def test_two_point_crossover_swaps_a_segment_and_repairs_frozen(case, seed):
    space, (ind1, ind2) = case
    a, b = list(ind1), list(ind2)
    fitness = (ind1.fitness.values, ind2.fitness.values)
    result = cx_two_point(ind1, ind2, space, rng=random.Random(seed))
    assert isinstance(result, tuple) and result[0] is ind1 and result[1] is ind2
    assert space.violations(ind1) == [] and space.violations(ind2) == []
    assert (ind1.fitness.values, ind2.fitness.values) == fitness
    for position in (0, 2, 3):  # these genes only move between the children
        assert sorted([ind1[position], ind2[position]]) == sorted([a[position], b[position]])
    # one contiguous segment [i:j] came from the other parent (frozen may have been cut down to kept)
    matches = []
    for i in range(1, 4):
        for j in range(i + 1, 5):
            c1, c2 = a[:i] + b[i:j] + a[j:], b[:i] + a[i:j] + b[j:]
            for child in (c1, c2):
                child[1] = min(child[1], child[0])
            if [list(ind1), list(ind2)] == [c1, c2]:
                matches.append((i, j))
    assert matches


class _Cuts:
    """An rng whose randint returns the given values in turn."""

    def __init__(self, *values):
        self.values = list(values)

    def randint(self, low, high):
        value = self.values.pop(0)
        assert low <= value <= high
        return value


def test_crossover_repairs_a_child_whose_frozen_exceeds_kept():
    space = TransferSpace(n_layers=20)
    first, second = TransferGenome([10, 8, 1e-3, 0.5]), TransferGenome([3, 0, 1e-2, 0.2])
    cx_two_point(first, second, space, rng=_Cuts(1, 4))  # swap frozen, lr and dropout
    assert list(first) == [10, 0, 1e-2, 0.2]
    assert list(second) == [3, 3, 1e-3, 0.5]  # frozen 8 > kept 3: repaired to 3


@given(transfer_cases(), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.25, 1.0]))
def test_bounded_mutation_stays_valid_and_changes_the_genome(case, seed, indpb):
    space, (ind,) = case
    before, fitness = list(ind), ind.fitness.values
    result = mut_transfer(ind, space, rng=random.Random(seed), indpb=indpb)
    assert result == (ind,) and result[0] is ind
    assert space.violations(ind) == []
    assert ind.fitness.values == fitness
    assert [type(v) for v in ind] == [int, int, float, float]
    if changeable_genes(before, space):
        assert list(ind) != before


def test_mutation_steps_the_learning_rate_on_a_log_scale():
    space = TransferSpace(n_layers=10, lr_range=(1e-9, 1.0), log_sigma=0.5)
    rng = random.Random(2)
    for start in (1e-6, 1e-2):
        steps = []
        for _ in range(1500):
            genome = TransferGenome([5, 2, start, 0.5])
            mut_transfer(genome, space, rng=rng, indpb=0.0)  # indpb 0: exactly one gene, drawn at random
            if genome.lr != start:
                steps.append(math.log10(genome.lr / start))
        assert 300 < len(steps) < 450  # one gene in four
        assert statistics.median(abs(s) for s in steps) == pytest.approx(0.5 * 0.674, rel=0.2)


def test_layer_mutation_respects_the_backbone_bound():
    space = TransferSpace(n_layers=8, layer_sigma=5.0)
    rng = random.Random(0)
    kept_seen = Counter()
    for _ in range(500):
        genome = TransferGenome([8, 8, 1e-3, 0.5])
        mut_transfer(genome, space, rng=rng, indpb=1.0)
        assert 1 <= genome.kept <= 8 and 0 <= genome.frozen <= genome.kept
        kept_seen[genome.kept] += 1
    assert kept_seen[1] > 20 and 8 not in kept_seen  # wide steps pile up at the bound, and a chosen gene moves


def _ten_ranked():
    individuals = []
    for fitness in range(10):
        ind = creator.TransferIndividual([1, 0, 1e-3, 0.5])
        ind.fitness.values = (float(fitness),)
        individuals.append(ind)
    return individuals


def test_mates_are_picked_by_deaps_tournaments_of_two():
    from deap_cnn.families.transfer import FAMILY

    assert FAMILY.select_mates.func is tools.selTournament and FAMILY.select_mates.keywords == {"tournsize": 2}
    individuals = _ten_ranked()
    random.seed(0)
    chosen = FAMILY.select_mates(individuals, 2000)
    assert all(any(c is i for i in individuals) for c in chosen[:20])  # references, not copies
    # P(best wins) = 1 - (9/10)^2 = 0.19; P(worst) = 0.01
    counts = Counter(c.fitness.values[0] for c in chosen)
    assert 0.15 < counts[9.0] / 2000 < 0.23 and counts[0.0] / 2000 < 0.03


def test_init_draws_kept_and_frozen_over_their_whole_ranges():
    space = TransferSpace(n_layers=6)
    rng = random.Random(0)
    population = [init_transfer_genome(creator.TransferIndividual, space, rng) for _ in range(300)]
    assert all(space.is_valid(ind) and type(ind) is creator.TransferIndividual for ind in population)
    assert {ind.kept for ind in population} == set(range(1, 7))
    assert {ind.frozen for ind in population} == set(range(0, 7))
    assert min(ind.lr for ind in population) < 1e-5 and max(ind.lr for ind in population) > 1e-2


def test_clone_and_pickle_keep_the_genes():
    ind = creator.TransferIndividual.from_string("keep=12,freeze=3,lr=0.000316,drop=0.35")
    ind.fitness.values = (-1.25,)
    for copied in (base.Toolbox().clone(ind), pickle.loads(pickle.dumps(ind))):
        assert str(copied) == str(ind) and copied.fitness.values == (-1.25,)
        assert type(copied).__name__ == "TransferIndividual"


# --- the torch side ----------------------------------------------------------------------

tn = pytest.importorskip("deap_cnn.families.transfer.network")


@pytest.fixture(autouse=True)
def _private_hub(tmp_path):
    """No pretrained weights anywhere but where a test puts them (an empty torch hub of its own)."""
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield
    torch.hub.set_dir(before)


@pytest.fixture
def fresh():
    """No backbone cached in this process before or after the test."""
    tn.clear_backbone_cache()
    yield
    tn.clear_backbone_cache()


def _random_builder(name, **options):
    """A builder over random weights (loaded once per process; the warning has a test of its own)."""
    builder = tn.TransferBuilder(name, allow_random=True, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        builder.load()
    return builder


def test_random_weights_are_used_only_when_allowed_and_it_says_so(fresh):
    with pytest.warns(RuntimeWarning, match="no pretrained weights for resnet18.*using random initial weights"):
        builder = tn.TransferBuilder("resnet18", allow_random=True)
        assert builder.source == "random initial weights"


@pytest.mark.parametrize(
    "name, shape, layers",
    [
        ("densenet121", (1, 28, 28), 42),
        ("densenet121", (3, 32, 32), 58),
        ("resnet18", (1, 28, 28), 8),
        ("resnet18", (3, 32, 32), 8),
    ],
)
def test_layer_count_is_bounded_by_the_loaded_backbone_and_the_input(name, shape, layers):
    builder = _random_builder(name)
    space = builder.space(shape, 10)
    assert space.n_layers == layers and space.backbone == name
    too_many = TransferGenome([layers + 1, 0, 1e-3, 0.5])
    assert space.violations(too_many)
    with pytest.raises(ValueError, match=f"\\[1, {layers}\\]"):
        builder(too_many, shape, 10)


def test_resize_lets_small_images_reach_every_layer():
    assert _random_builder("densenet121", resize=32).layer_count((1, 28, 28)) == 58


def _dense_layers(model):
    return [m for m in model.modules() if type(m).__name__ == "_DenseLayer"]


@pytest.mark.parametrize(
    "shape, kept, frozen", [((1, 28, 28), 1, 0), ((3, 32, 32), 7, 7), ((1, 28, 28), 20, 9), ((3, 32, 32), 42, 30)]
)
def test_densenet_decodes_keeps_and_freezes_what_the_genome_says(shape, kept, frozen):
    builder = _random_builder("densenet121")
    genome = TransferGenome([kept, frozen, 1e-3, 0.35])
    builder.space(shape, 10).validate(genome)
    model = builder(genome, shape, 10)
    layers = _dense_layers(model)
    assert len(layers) == kept
    for index, layer in enumerate(layers):
        assert all(p.requires_grad == (index >= frozen) for p in layer.parameters())
        assert layer.training == (index >= frozen)  # frozen layers keep the backbone's statistics
    stem = model.features[0]
    assert all(p.requires_grad == (frozen == 0) for p in stem.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.35]
    x = torch.randn(2, *shape)
    out = model(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 10)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (4, 32, 32)])
def test_resnet_decodes_and_runs_on_the_family_shapes(shape):
    builder = _random_builder("resnet18")
    model = builder(TransferGenome([5, 2, 1e-3, 0.5]), shape, 3)
    blocks = [m for m in model.features if type(m).__name__ == "BasicBlock"]
    assert len(blocks) == 5
    assert [all(not p.requires_grad for p in b.parameters()) for b in blocks] == [True, True, False, False, False]
    assert (model.adapter is not None) == (shape[0] == 4)
    assert model(torch.randn(2, *shape)).shape == (2, 3)


def test_frozen_layers_do_not_change_in_training():
    builder = _random_builder("resnet18")
    model = builder(TransferGenome([4, 2, 1e-3, 0.5]), (1, 28, 28), 10)
    frozen, trainable = model.features[1], model.features[4]  # block 1 (with the stem) and block 4
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    trainable_before = {k: v.clone() for k, v in trainable.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    loss = nn.functional.cross_entropy(model(torch.randn(8, 1, 28, 28)), torch.randint(0, 10, (8,)))
    loss.backward()
    optimizer.step()
    assert all(torch.equal(before[k], v) for k, v in frozen.state_dict().items())  # weights and BN statistics
    assert not all(torch.equal(trainable_before[k], v) for k, v in trainable.state_dict().items())


def test_a_weights_file_is_loaded(tmp_path):
    import torchvision

    torch.manual_seed(123)
    source = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pt"
    torch.save(source.state_dict(), path)
    builder = tn.TransferBuilder("resnet18", weights_path=path)
    assert builder.source == f"weights file {path}"
    model = builder(TransferGenome([8, 0, 1e-3, 0.5]), (3, 32, 32), 10)
    saved = torch.load(path, weights_only=True)
    assert torch.equal(model.features[0][0].weight, saved["conv1.weight"])
    assert torch.equal(model.features[8].bn2.running_var, saved["layer4.1.bn2.running_var"])
    # a fresh builder for the same file gives the same network (and pickles as plain settings)
    again = pickle.loads(pickle.dumps(builder))
    assert again == builder
    assert torch.equal(
        again(TransferGenome([1, 0, 1e-3, 0.5]), (3, 32, 32), 10).features[0][0].weight, saved["conv1.weight"]
    )


def test_a_densenet_file_with_old_key_names_and_no_classifier_is_loaded(tmp_path):
    import re

    import torchvision

    torch.manual_seed(7)
    state = torchvision.models.densenet121().state_dict()
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()}
    legacy = {k: v for k, v in legacy.items() if not k.startswith("classifier.")}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    path = tmp_path / "densenet.pt"
    torch.save({"state_dict": legacy}, path)
    model = tn.TransferBuilder("densenet121", weights_path=path)(TransferGenome([3, 0, 1e-3, 0.5]), (3, 32, 32), 10)
    layer = _dense_layers(model)[2]
    assert torch.equal(layer.conv2.weight, state["features.denseblock1.denselayer3.conv2.weight"])


def test_a_weights_file_for_another_network_is_refused(tmp_path):
    import torchvision

    path = tmp_path / "wrong.pt"
    torch.save(torchvision.models.resnet34().state_dict(), path)
    with pytest.raises(tn.WeightsUnavailableError, match="does not fit torchvision's resnet18.*unexpected"):
        tn.TransferBuilder("resnet18", weights_path=path).load()
    with pytest.raises(tn.WeightsUnavailableError, match="does not exist"):
        tn.TransferBuilder("resnet18", weights_path=tmp_path / "missing.pt").load()


def test_pretrained_weights_in_the_hub_cache_are_used_without_downloading(tmp_path, fresh):
    import torchvision

    weights = torchvision.models.get_model_weights("resnet18").DEFAULT
    torch.manual_seed(5)
    cached = torchvision.models.resnet18().state_dict()
    target = tn._hub_file(weights)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(cached, target)
    builder = tn.TransferBuilder("resnet18")  # no download allowed: the cached file is enough
    assert builder.source == "torchvision pretrained weights"
    model = builder(TransferGenome([2, 0, 1e-3, 0.5]), (3, 32, 32), 10)
    assert torch.equal(model.features[0][0].weight, cached["conv1.weight"])


def test_no_weights_and_no_permission_is_a_clear_error(fresh):
    with pytest.raises(tn.WeightsUnavailableError) as error:
        tn.TransferBuilder("densenet121").load()
    message = str(error.value)
    for way_out in ("weights_path=", "allow_download=True", "allow_random=True", "not in the torch hub cache"):
        assert way_out in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no silent fallback either
        with pytest.raises(tn.WeightsUnavailableError):
            tn.TransferBuilder("resnet18").space((1, 28, 28), 10)
    with pytest.raises(ValueError, match="unknown torchvision backbone"):
        tn.TransferBuilder("not_a_net", allow_random=True).load()


# --- training and a whole run --------------------------------------------------------------


def test_the_genes_reach_training_and_the_family_minimises_the_validation_loss():
    from deap_cnn.search.objectives import Objectives
    from deap_cnn.training.evaluator import Evaluator

    builder = _random_builder("densenet121")
    space = builder.space((1, 28, 28), 10)
    evaluator = Evaluator(
        "sample",
        space,
        tn.transfer_settings(epochs=1, batch_size=16, max_batches_per_epoch=1),
        device="cpu",
        threads=1,
        builder=builder,
    )
    genome = space.validate("keep=8,freeze=3,lr=0.000316,drop=0.5")
    settings = evaluator.settings_for(genome)
    assert settings.lr == 0.000316 and settings.optimizer == "adam"
    objectives = Objectives(FAMILY.objectives)
    assert objectives.names == ("loss",) and objectives.weights == (-1.0,)
    record = objectives.wrap(evaluator).record("keep=8,freeze=3,lr=0.000316,drop=0.5")
    assert record.status == "ok", record.error
    assert record.fitness == (min(record.val_loss),) and record.fitness[0] > 0
    assert 0 < record.parameters  # trainable parameters only: the frozen ones are not counted
    full = evaluator.builder(TransferGenome([8, 0, 1e-3, 0.5]), (1, 28, 28), 10)
    assert record.parameters < sum(p.numel() for p in full.parameters())


def test_a_short_run_through_the_loop_and_store(tmp_path):
    import torchvision

    from deap_cnn.families.cnn_ga.operators import sel_environmental
    from deap_cnn.runs.store import ResultsStore
    from deap_cnn.search.cache import EvaluationCache
    from deap_cnn.search.ga import ea_cnn_ga
    from deap_cnn.search.objectives import Objectives
    from deap_cnn.training.evaluator import Evaluator

    torch.manual_seed(0)
    path = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    builder = tn.TransferBuilder("resnet18", weights_path=str(path))
    space = builder.space((1, 28, 28), 10)
    settings = tn.transfer_settings(epochs=1, batch_size=16, max_batches_per_epoch=2)
    evaluator = Objectives(FAMILY.objectives).wrap(
        Evaluator("sample", space, settings, device="cpu", threads=1, builder=builder)
    )
    individual = FAMILY.individual(evaluator.weights)

    toolbox = base.Toolbox()
    toolbox.register("individual", init_transfer_genome, individual, space)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_two_point, space=space)
    toolbox.register("mutate", mut_transfer, space=space)
    toolbox.register("select_mates", tools.selTournament, tournsize=2)
    toolbox.register("select", sel_environmental)
    toolbox.register("evaluate", evaluator.record)

    random.seed(1)
    store = ResultsStore(tmp_path / "results.sqlite", fingerprint=f"{evaluator.fingerprint()}-{builder.fingerprint()}")
    population = toolbox.population(n=4)
    population, logbook = ea_cnn_ga(population, toolbox, ngen=1, verbose=False, cache=EvaluationCache(store))
    assert logbook.select("gen") == [0, 1] and logbook[0]["nevals"] == 4
    assert all(type(ind) is individual and space.is_valid(ind) for ind in population)
    rows = store.records()
    assert len(rows) == sum(logbook.select("nevals"))
    for row in rows:
        assert row["status"] == "ok", row["error"]
        assert row["fitness"][0] == pytest.approx(min(row["val_loss"]))
        assert row["batch_size"] == 16
        space.validate(row["genome"])
    best = max(population, key=lambda ind: ind.fitness)  # the lowest loss: DEAP compares by the weights
    assert best.fitness.values[0] == min(
        row["fitness"][0] for row in rows if row["genome"] in {str(i) for i in population}
    )
    store.close()


def test_genes_listed_once():
    assert TRANSFER_GENES == ("kept", "frozen", "lr", "dropout")
