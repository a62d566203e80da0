"""The NAS-Bench-201 / NATS-Bench topology family: genome text, space rules and sizes, the benchmark's published
parameter and FLOP counts (torch-free and of the built networks), the network, operators (hypothesis), encodings,
the family inside DEAP's own loop, and one real training run on the bundled sample."""

from __future__ import annotations

import itertools
import math
import pickle
import random
from copy import deepcopy

import optuna
import pytest
import torch
from deap import algorithms
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from deap_cnn.families import GenomeError, SearchSpaceError, get_family
from deap_cnn.families.nats import (
    EDGES,
    OPERATIONS,
    CellGenome,
    CellNetworkBuilder,
    NatsSpace,
    cell_neighbours,
    cx_cell,
    encode_cell,
    init_cell,
    mut_cell,
    random_cell,
    suggest_cell,
)
from deap_cnn.families.nats.network import Cell
from deap_cnn.training.evaluator import Evaluator
from deap_cnn.training.models import count_flops, count_parameters
from deap_cnn.training.settings import TrainSettings

optuna.logging.set_verbosity(optuna.logging.WARNING)

seeds = st.integers(0, 2**32 - 1)
CONVS = ("nor_conv_1x1", "nor_conv_3x3")
FREE = ("none", "skip_connect", "avg_pool_3x3")  # no parameters, no multiply-adds

# The benchmark's cells with its published sizes (CIFAR-10: 3x32x32, 10 classes, 16 channels, 5 cells per stage).
NONE_CELL = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
MID_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CONV_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
#: (cell, parameters with 10 classes, parameters with 100 classes or None, FLOPs with 10 classes)
PUBLISHED = [
    (NONE_CELL, 73_306, 79_156, 7_783_050),
    (MID_CELL, 802_426, None, 113_951_370),
    (CONV_CELL, 1_531_546, 1_537_396, 220_119_690),
]

# --- strategies -------------------------------------------------------------------

operations = st.sampled_from(OPERATIONS)
cells = st.lists(operations, min_size=6, max_size=6).map(CellGenome)


def operation_subsets(min_size=1, max_size=len(OPERATIONS)):
    return st.lists(operations, min_size=min_size, max_size=max_size, unique=True).map(tuple)


@st.composite
def spaces_and_cells(draw, min_ops=1, max_ops=len(OPERATIONS)):
    """A space over a subset of the operations and a cell valid in it (edge cells, one op everywhere, come up)."""
    space = NatsSpace(operations=draw(operation_subsets(min_ops, max_ops)))
    one_op = st.sampled_from(space.operations).map(lambda op: CellGenome([op] * 6))
    mixed = st.lists(st.sampled_from(space.operations), min_size=6, max_size=6).map(CellGenome)
    return space, draw(st.one_of(one_op, mixed))


def conv_edges(genome):
    return sum(op in CONVS for op in genome)


def differing_edges(a, b):
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


# --- genome -----------------------------------------------------------------------


@given(cells)
def test_text_round_trips_for_every_cell(cell):
    text = str(cell)
    assert CellGenome.from_string(text) == cell
    assert type(CellGenome.from_string(text)) is CellGenome
    nodes = text.split("+")
    assert [part.count("~") for part in nodes] == [1, 2, 3]  # node j has j input edges
    written = [edge for part in nodes for edge in part.strip("|").split("|")]
    assert written == [f"{op}~{source}" for op, (_, source) in zip(cell, EDGES, strict=True)]
    assert eval(repr(cell), {"CellGenome": CellGenome}) == cell


def test_the_benchmark_string_reads_edges_in_its_order():
    cell = CellGenome.from_string(MID_CELL)
    assert list(cell) == [
        "nor_conv_3x3",  # 0 -> 1
        "nor_conv_3x3",  # 0 -> 2
        "avg_pool_3x3",  # 1 -> 2
        "skip_connect",  # 0 -> 3
        "nor_conv_3x3",  # 1 -> 3
        "skip_connect",  # 2 -> 3
    ]
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert str(cell) == MID_CELL


@pytest.mark.parametrize(
    "text, problem",
    [
        ("|none~0|", "expected 3 nodes"),
        ("|none~0|+|none~0|none~1|", "expected 3 nodes"),
        (NONE_CELL + "+|none~0|", "expected 3 nodes"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 input edge"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|", "node 3 needs 3 input edge"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|", "node 3 needs 3 input edge"),
        ("|none~0|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 needs 1 input edge"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "'none~1' of node 1 must be 'op~0'"),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "of node 2 must be 'op~0'"),
        ("|none~0|+|none~0|none~1|+|none~0|none~2|none~2|", "'none~2' of node 3 must be 'op~1'"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "'none' of node 1"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2", "node 3's edges must be written"),
        ("", "non-empty"),
        ("   ", "non-empty"),
    ],
)
def test_malformed_strings_raise_a_genome_error_naming_the_problem(text, problem):
    with pytest.raises(GenomeError, match=problem.replace("|", r"\|").replace("+", r"\+")):
        CellGenome.from_string(text)


@pytest.mark.parametrize("value", [None, 5, b"|none~0|", ["none"] * 6, CellGenome(["none"] * 6)])
def test_a_non_string_is_no_cell_text(value):
    with pytest.raises(GenomeError, match="string"):
        CellGenome.from_string(value)


@given(
    st.lists(operations, min_size=6, max_size=6), st.integers(0, 5), st.sampled_from([1, 2.5, None, b"none", ("none",)])
)
def test_non_string_operations_are_refused(ops, edge, value):
    ops[edge] = value
    with pytest.raises(GenomeError, match="operation names"):
        CellGenome(ops)


@settings(max_examples=10)  # each unpickled individual re-creates its DEAP creator type
@given(cells)
def test_cells_and_individuals_pickle_and_copy(cell):
    individual = get_family("nats").individual()(cell)
    individual.fitness.values = (0.5,)
    for original in (cell, individual):
        for copy in (pickle.loads(pickle.dumps(original)), deepcopy(original)):
            # by name: DEAP 1.4 unpickles a creator type by re-creating it
            assert copy == original and type(copy).__name__ == type(original).__name__ and str(copy) == str(cell)
            assert isinstance(copy, CellGenome)
    assert pickle.loads(pickle.dumps(individual)).fitness.values == (0.5,)


def test_an_unknown_operation_parses_and_the_space_names_it():
    cell = CellGenome.from_string("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(GenomeError, match=r"rule 'operations': edge 0->1 is 'conv_5x5'"):
        NatsSpace().validate(cell)
    with pytest.raises(GenomeError, match="conv_5x5"):
        NatsSpace().validate(str(cell))


# --- space: rules -----------------------------------------------------------------


@given(operation_subsets(), st.lists(operations, min_size=6, max_size=6))
def test_violations_name_each_disallowed_edge(allowed, ops):
    space = NatsSpace(operations=allowed)
    problems = space.violations(ops)
    bad = [(op, edge) for op, edge in zip(ops, EDGES, strict=True) if op not in allowed]
    assert len(problems) == len(bad)
    for message, (op, (to, source)) in zip(problems, bad, strict=True):
        assert "rule 'operations'" in message and f"edge {source}->{to} is {op!r}" in message
    assert space.is_valid(ops) == (not bad)
    if bad:
        with pytest.raises(GenomeError, match="rule 'operations'"):
            space.validate(ops)
    else:
        assert space.validate(ops) == ops and type(space.validate(ops)) is CellGenome


@given(st.lists(operations, max_size=12).filter(lambda ops: len(ops) != 6))
def test_a_cell_has_six_edges(ops):
    space = NatsSpace()
    problems = space.violations(ops)
    assert len(problems) == 1 and "rule 'six edges'" in problems[0] and f"got {len(ops)} operations" in problems[0]
    assert not space.is_valid(ops)
    with pytest.raises(GenomeError, match="six edges"):
        space.validate(ops)


def test_validate_takes_text_lists_and_tuples_and_gives_a_cell_genome():
    space = NatsSpace()
    expected = CellGenome.from_string(MID_CELL)
    for genome in (MID_CELL, list(expected), tuple(expected), expected):
        validated = space.validate(genome)
        assert validated == expected and isinstance(validated, CellGenome)
    assert space.parse(MID_CELL) == expected


@pytest.mark.parametrize(
    "settings_, setting",
    [
        (dict(input_shape=(3, 3, 32)), "at least 4x4"),
        (dict(input_shape=(3, 32, 3)), "at least 4x4"),
        (dict(input_shape=(1, 1, 1)), "at least 4x4"),
        (dict(input_shape=(32, 32)), "input_shape"),
        (dict(cell_channels=0), "cell_channels"),
        (dict(cell_channels=-4), "cell_channels"),
        (dict(cell_channels=2.0), "cell_channels"),
        (dict(cell_channels=True), "cell_channels"),
        (dict(cells_per_stage=0), "cells_per_stage"),
        (dict(operations=("none", "conv_5x5")), "operations"),
        (dict(operations=()), "operations"),
        (dict(operations="none"), "operations"),
        (dict(n_classes=1), "n_classes"),
        (dict(n_classes=0), "n_classes"),
    ],
)
def test_bad_settings_raise_a_search_space_error_naming_them(settings_, setting):
    with pytest.raises(SearchSpaceError, match=setting):
        NatsSpace(**settings_)


def test_the_smallest_images_are_4x4():
    space = NatsSpace(input_shape=(1, 4, 4), cell_channels=2, cells_per_stage=1)
    assert space.input_shape == (1, 4, 4)


# --- space: size, enumeration, cost -------------------------------------------------


def test_the_default_space_holds_every_one_of_15625_cells():
    space = NatsSpace()
    assert space.operations == OPERATIONS
    cells_ = list(space.all_genomes())
    assert space.size == 15_625 == len(cells_) == len({str(c) for c in cells_})
    assert all(type(c) is CellGenome and space.is_valid(c) for c in cells_)
    assert list(space.all_genomes()) == cells_  # a fixed order


@settings(max_examples=25)
@given(operation_subsets(max_size=3))
def test_a_restricted_space_enumerates_its_cells(allowed):
    space = NatsSpace(operations=allowed)
    cells_ = list(space.all_genomes())
    assert space.size == len(allowed) ** 6 == len(cells_) == len({tuple(c) for c in cells_})
    assert {tuple(c) for c in cells_} == set(itertools.product(allowed, repeat=6))


def test_two_operations_make_64_cells():
    space = NatsSpace(operations=("skip_connect", "nor_conv_3x3"))
    assert space.size == 2**6 == len(list(space.all_genomes()))
    assert space.violations(["none"] * 6) and "rule 'operations'" in space.violations(["none"] * 6)[0]


def test_duplicate_operations_count_once():
    space = NatsSpace(operations=("none", "skip_connect", "none"))
    assert space.operations == ("none", "skip_connect") and space.size == 64


@given(spaces_and_cells())
def test_the_largest_genome_costs_the_most(space_and_cell):
    space, cell = space_and_cell
    largest = space.largest_genome()
    assert space.is_valid(largest) and type(largest) is CellGenome
    assert space.macs(cell) <= space.macs(largest)
    assert space.parameters(cell) <= space.parameters(largest)


def test_the_largest_default_genome_is_all_3x3_convolutions():
    assert str(NatsSpace().largest_genome()) == CONV_CELL
    assert set(NatsSpace(operations=("none", "nor_conv_1x1", "skip_connect")).largest_genome()) == {"nor_conv_1x1"}


@given(cells, st.integers(0, 5), st.sampled_from(FREE))
def test_cost_grows_with_each_conv_edge(cell, edge, free):
    space = NatsSpace()
    assert space.cost(cell) == space.macs(cell)
    plain, small, big = (CellGenome(cell[:edge] + [op] + cell[edge + 1 :]) for op in (free, *CONVS))
    assert space.macs(plain) < space.macs(small) < space.macs(big)
    assert space.parameters(plain) < space.parameters(small) < space.parameters(big)
    for other in FREE:  # parameter-free operations cost the same
        same = CellGenome(cell[:edge] + [other] + cell[edge + 1 :])
        assert space.macs(same) == space.macs(plain) and space.parameters(same) == space.parameters(plain)


@given(cells, st.permutations(range(6)))
def test_cost_depends_on_which_operations_not_where(cell, order):
    space = NatsSpace()
    moved = CellGenome(cell[i] for i in order)
    assert space.macs(moved) == space.macs(cell) and space.parameters(moved) == space.parameters(cell)


# --- the benchmark's published figures -------------------------------------------


@pytest.mark.parametrize("cell, params, params_100, flops", PUBLISHED)
def test_published_sizes_torch_free(cell, params, params_100, flops):
    space = NatsSpace()
    assert (space.input_shape, space.n_classes, space.cell_channels, space.cells_per_stage) == ((3, 32, 32), 10, 16, 5)
    genome = space.parse(cell)
    assert space.parameters(genome) == params
    assert space.macs(genome) + space.n_classes == flops  # the benchmark's counter adds the linear layer's bias
    if params_100 is not None:
        assert NatsSpace(n_classes=100).parameters(genome) == params_100


def test_published_extremes_are_the_space_minimum_and_maximum():
    space = NatsSpace()
    sizes = {space.parameters(c) for c in space.all_genomes()}
    assert (min(sizes), max(sizes)) == (73_306, 1_531_546)
    assert space.macs(space.largest_genome()) + 10 == 220_119_690


@pytest.mark.parametrize("cell, params, params_100, flops", PUBLISHED)
def test_published_sizes_of_the_built_networks(cell, params, params_100, flops):
    space = NatsSpace()
    genome = space.parse(cell)
    network = space.network_builder(genome, space.input_shape, space.n_classes)
    assert count_parameters(network) == params == space.parameters(genome)
    assert count_flops(network, space.input_shape) == 2 * space.macs(genome) == 2 * (flops - 10)
    if params_100 is not None:
        wide = NatsSpace(n_classes=100)
        assert count_parameters(wide.network_builder(genome, wide.input_shape, 100)) == params_100


SMALL_SPACES = [
    NatsSpace(input_shape=(1, 28, 28), cell_channels=4, cells_per_stage=1),
    NatsSpace(input_shape=(3, 27, 27), n_classes=7, cell_channels=2, cells_per_stage=2),
    NatsSpace(input_shape=(2, 5, 9), n_classes=3, cell_channels=3, cells_per_stage=1),
]


@settings(max_examples=2)
@given(cells)
def test_built_benchmark_network_counts_match_the_space(cell):
    space = NatsSpace()
    network = space.network_builder(cell, space.input_shape, space.n_classes)
    assert count_parameters(network) == space.parameters(cell)
    assert count_flops(network, space.input_shape) == 2 * space.macs(cell)


@pytest.mark.parametrize("space", SMALL_SPACES, ids=lambda s: "x".join(map(str, s.input_shape)))
@settings(max_examples=3)
@given(cell=cells)
def test_built_networks_of_other_sizes_match_the_space_and_run(space, cell):
    network = space.network_builder(cell, space.input_shape, space.n_classes)
    assert count_parameters(network) == space.parameters(cell)
    assert count_flops(network, space.input_shape) == 2 * space.macs(cell)
    out = network(torch.randn(2, *space.input_shape))
    assert out.shape == (2, space.n_classes) and torch.isfinite(out).all()


# --- the network ------------------------------------------------------------------


def tiny_network(cell, space=SMALL_SPACES[0]):
    torch.manual_seed(0)
    return space.network_builder(cell, space.input_shape, space.n_classes)


def test_the_forward_pass_gives_batch_by_classes_and_trains():
    space = SMALL_SPACES[0]
    network = tiny_network(space.parse(MID_CELL))
    x = torch.randn(3, *space.input_shape)
    out = network(x)
    assert out.shape == (3, 10)
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in network.parameters())


def test_a_cell_whose_output_gets_only_none_edges_still_runs():
    cell = CellGenome(["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "none", "none", "none"])
    x = torch.randn(2, 4, 6, 6)
    assert torch.count_nonzero(Cell(cell, 4)(x)) == 0  # node 3 receives nothing
    network = tiny_network(cell)
    out = network(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


@given(st.lists(st.sampled_from(["none", "skip_connect"]), min_size=6, max_size=6))
def test_a_cell_of_skips_sums_its_paths(ops):
    """Node j sums its inputs through their edges: with identities only, the output is x times the paths 0 -> 3."""
    paths = [1, 0, 0, 0]
    for op, (to, source) in zip(ops, EDGES, strict=True):
        paths[to] += paths[source] * (op == "skip_connect")
    x = torch.randn(2, 3, 5, 5)
    assert torch.allclose(Cell(CellGenome(ops), 3)(x), paths[3] * x)


@settings(max_examples=20)
@given(cells)
def test_edges_do_not_change_their_shared_input(cell):
    """Every edge reads node 0 (and nodes 1, 2 feed two edges each): an in-place ReLU would change it for the others."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 5)  # about half negative
    before = x.clone()
    module = Cell(cell, 3)
    module(x)
    assert torch.equal(x, before)
    assert not any(m.inplace for m in module.modules() if isinstance(m, nn.ReLU))


def test_the_network_does_not_change_its_input():
    space = SMALL_SPACES[0]
    network = tiny_network(space.parse(CONV_CELL))
    x = torch.randn(2, *space.input_shape)
    before = x.clone()
    network(x)
    assert torch.equal(x, before)
    assert not any(m.inplace for m in network.modules() if isinstance(m, nn.ReLU))


def test_a_cell_takes_six_operations():
    with pytest.raises(ValueError, match="6 edges"):
        Cell(["none"] * 5, 4)


def test_the_builder_pickles_and_its_fingerprint_tells_the_sizes():
    space = NatsSpace(cell_channels=4, cells_per_stage=2)
    builder = space.network_builder
    assert isinstance(builder, CellNetworkBuilder)
    copy = pickle.loads(pickle.dumps(space.network_builder))
    assert copy == builder and copy.fingerprint() == builder.fingerprint()
    genome = space.parse(MID_CELL)
    assert count_parameters(copy(genome, space.input_shape, 10)) == space.parameters(genome)
    fingerprints = {
        NatsSpace(cell_channels=c, cells_per_stage=n).network_builder.fingerprint() for c in (4, 8, 16) for n in (1, 5)
    }
    assert len(fingerprints) == 6
    assert NatsSpace().network_builder.fingerprint() == NatsSpace(n_classes=100).network_builder.fingerprint()


# --- operators --------------------------------------------------------------------


@given(spaces_and_cells(min_ops=2), seeds)
def test_mut_cell_changes_exactly_one_edge_to_another_allowed_operation(space_and_cell, seed):
    space, cell = space_and_cell
    parent = CellGenome(cell)
    result = mut_cell(cell, space, rng=random.Random(seed))
    assert isinstance(result, tuple) and len(result) == 1 and result[0] is cell  # in place
    changed = differing_edges(parent, cell)
    assert len(changed) == 1
    assert cell[changed[0]] in space.operations and cell[changed[0]] != parent[changed[0]]
    assert space.is_valid(cell)


@given(operations, seeds)
def test_mut_cell_in_a_one_operation_space_changes_nothing(op, seed):
    space = NatsSpace(operations=(op,))
    cell = CellGenome([op] * 6)
    result = mut_cell(cell, space, rng=random.Random(seed))
    assert result == (cell,) and result[0] is cell and cell == [op] * 6


@given(spaces_and_cells(), st.lists(st.sampled_from(OPERATIONS), min_size=6, max_size=6), st.floats(0, 1), seeds)
def test_cx_cell_keeps_the_parents_two_operations_at_every_edge(space_and_cell, other, indpb, seed):
    space, first = space_and_cell
    second = CellGenome(op if op in space.operations else space.operations[0] for op in other)
    p1, p2 = list(first), list(second)
    children = cx_cell(first, second, space, indpb=indpb, rng=random.Random(seed))
    assert children[0] is first and children[1] is second and len(children) == 2
    for edge in range(6):
        assert sorted([first[edge], second[edge]]) == sorted([p1[edge], p2[edge]])
    assert space.is_valid(first) and space.is_valid(second)


@given(cells, cells, seeds)
def test_cx_cell_with_indpb_0_keeps_and_with_1_swaps(a, b, seed):
    space = NatsSpace()
    x, y = CellGenome(a), CellGenome(b)
    cx_cell(x, y, space, indpb=0, rng=random.Random(seed))
    assert (x, y) == (a, b)
    cx_cell(x, y, space, indpb=1.0, rng=random.Random(seed))
    assert (x, y) == (b, a)


@pytest.mark.parametrize("indpb", [-0.1, 1.5, math.nan, math.inf, True, "0.5", None])
def test_cx_cell_refuses_a_bad_indpb(indpb):
    x, y = CellGenome(["none"] * 6), CellGenome(["skip_connect"] * 6)
    with pytest.raises(ValueError, match="indpb"):
        cx_cell(x, y, NatsSpace(), indpb=indpb)
    assert x == ["none"] * 6 and y == ["skip_connect"] * 6


class Holder(list):
    """A container type that is not a CellGenome."""


@given(operation_subsets(), seeds, st.sampled_from(["family", "cell", "holder"]))
def test_init_cell_gives_valid_cells_of_the_container_type(allowed, seed, kind):
    space = NatsSpace(operations=allowed)
    container = {"family": get_family("nats").individual(), "cell": CellGenome, "holder": Holder}[kind]
    cell = init_cell(container, space, rng=random.Random(seed))
    assert type(cell) is container and space.is_valid(cell)
    drawn = random_cell(space, random.Random(seed))
    assert len(drawn) == 6 and space.is_valid(drawn)


def test_random_cells_reach_every_operation_on_every_edge():
    space = NatsSpace()
    rng = random.Random(1)
    seen = [set() for _ in EDGES]
    for _ in range(200):
        for edge, op in enumerate(random_cell(space, rng)):
            seen[edge].add(op)
    assert all(s == set(OPERATIONS) for s in seen)


@given(spaces_and_cells())
def test_cell_neighbours_are_every_cell_one_edit_away(space_and_cell):
    space, cell = space_and_cell
    neighbours = cell_neighbours(cell, space)
    k = len(space.operations)
    assert len(neighbours) == 6 * (k - 1) == len({str(n) for n in neighbours})
    for neighbour in neighbours:
        assert type(neighbour) is CellGenome and space.is_valid(neighbour)
        assert len(differing_edges(cell, neighbour)) == 1
    oracle = {str(c) for c in space.all_genomes() if len(differing_edges(cell, c)) == 1} if k <= 3 else None
    if oracle is not None:
        assert {str(n) for n in neighbours} == oracle


@given(spaces_and_cells(min_ops=2), seeds)
def test_a_seeded_rng_repeats_every_operator(space_and_cell, seed):
    space, cell = space_and_cell

    def run():
        rng = random.Random(seed)
        made = init_cell(CellGenome, space, rng=rng)
        mutant = CellGenome(cell)
        mut_cell(mutant, space, rng=rng)
        a, b = CellGenome(cell), CellGenome(made)
        cx_cell(a, b, space, rng=rng)
        return str(made), str(mutant), str(a), str(b)

    assert run() == run()


# --- encodings --------------------------------------------------------------------


@given(spaces_and_cells())
def test_encode_cell_is_one_hot_per_edge(space_and_cell):
    space, cell = space_and_cell
    k = len(space.operations)
    vector = encode_cell(cell, space)
    assert len(vector) == 6 * k and set(vector) <= {0.0, 1.0}
    for edge, op in enumerate(cell):
        chunk = vector[edge * k : (edge + 1) * k]
        assert sum(chunk) == 1 and chunk.index(1.0) == space.operations.index(op)
    assert len(encode_cell(space.largest_genome(), space)) == len(vector)  # one length for the whole space


def test_encodings_of_distinct_cells_differ():
    space = NatsSpace(operations=("none", "skip_connect", "nor_conv_3x3"))
    encoded = {tuple(encode_cell(c, space)) for c in space.all_genomes()}
    assert len(encoded) == space.size


@settings(max_examples=30)
@given(spaces_and_cells())
def test_suggest_cell_decodes_a_fixed_trial(space_and_cell):
    space, cell = space_and_cell
    params = {f"edge_{to}_{source}": op for op, (to, source) in zip(cell, EDGES, strict=True)}
    suggested = suggest_cell(optuna.trial.FixedTrial(params), space)
    assert suggested == cell and type(suggested) is CellGenome and space.is_valid(suggested)


# --- the family -------------------------------------------------------------------


def test_the_family_is_registered_with_its_operators():
    family = get_family("nats")
    assert family.name == "nats" and family.genome_class is CellGenome
    assert (family.init, family.mate, family.mutate) == (init_cell, cx_cell, mut_cell)
    assert (family.encode, family.suggest, family.neighbours) == (encode_cell, suggest_cell, cell_neighbours)
    assert family.space((3, 32, 32), 10) == NatsSpace()
    assert family.network_builder(family.space((3, 32, 32), 10)) is None  # the space names its builder


@pytest.mark.parametrize(
    "options, channels, cells_",
    [
        ({}, 16, 5),
        ({"cell_channels": 4}, 4, 5),
        ({"cells_per_stage": 2}, 16, 2),
        ({"cell_channels": 8, "cells_per_stage": 1}, 8, 1),
    ],
)
def test_make_space_honours_cell_channels_and_cells_per_stage(options, channels, cells_):
    space = get_family("nats").space([1, 28, 28], 10, options)
    assert (space.input_shape, space.n_classes) == ((1, 28, 28), 10)
    assert (space.cell_channels, space.cells_per_stage) == (channels, cells_)
    assert space.network_builder == CellNetworkBuilder(channels, cells_)


def test_the_family_toolbox_runs_in_deaps_own_ea_simple():
    family = get_family("nats")
    space = family.space((3, 32, 32), 10)
    toolbox = family.toolbox(space, lambda ind: (float(conv_edges(ind)),))
    random.seed(3)  # eaSimple and the operators' default rng draw from the random module
    population = toolbox.population(n=8)
    final, logbook = algorithms.eaSimple(population, toolbox, cxpb=0.6, mutpb=0.4, ngen=2, verbose=False)
    assert len(final) == 8 and len(logbook) == 3
    assert all(type(ind) is family.individual() and space.is_valid(ind) for ind in final)
    assert all(ind.fitness.valid and ind.fitness.values == (conv_edges(ind),) for ind in final)
    assert toolbox.cost(final[0]) == space.macs(final[0])


# --- it trains --------------------------------------------------------------------


def test_a_cell_trains_on_the_sample_and_scores():
    space = get_family("nats").space((1, 28, 28), 10, {"cell_channels": 4, "cells_per_stage": 1})
    evaluator = Evaluator(
        "sample", space, TrainSettings(epochs=1, max_batches_per_epoch=2, batch_size=16), device="cpu", threads=1
    )
    assert evaluator.builder == space.network_builder
    with pytest.raises(GenomeError, match="conv_5x5"):  # checked before any training
        evaluator.record(MID_CELL.replace("avg_pool_3x3", "conv_5x5"))
    cell = space.parse(MID_CELL)
    record = evaluator.record(MID_CELL)
    assert record.status == "ok", record.error
    assert record.genome == MID_CELL and record.epochs == 1
    assert len(record.fitness) == 1 and 0.0 <= record.fitness[0] <= 1.0
    assert record.parameters == space.parameters(cell)
    assert record.flops == 2 * space.macs(cell)
