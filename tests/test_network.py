"""Decoding genomes into torch networks: shapes, unit structure, parameter and FLOP counts."""

from __future__ import annotations

import pytest
import torch
from conftest import genomes, search_spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from deap_cnn import Genome, PoolGene, SearchSpace, SkipGene
from deap_cnn.families.cnn_ga.network import SkipUnit, build_network
from deap_cnn.training.models import count_flops, count_parameters


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # Tiny networks: threads only add overhead. Restore the setting for other modules.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL_SPACES = search_spaces(input_shapes=[(1, 28, 28), (3, 32, 32)], widths=[4, 8], max_skip_cap=4)


@st.composite
def small_space_and_genome(draw):
    space = draw(SMALL_SPACES)
    return space, draw(genomes(space))


@settings(max_examples=20)
@given(small_space_and_genome())
def test_valid_genomes_decode_to_working_networks(case):
    space, genome = case
    model = build_network(genome, space.input_shape, space.n_classes)
    assert isinstance(model, nn.Module)
    units = [m for m in model if isinstance(m, SkipUnit)]
    pools = [m for m in model if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert [u.shortcut.out_channels for u in units] == [g.width for g in genome if isinstance(g, SkipGene)]
    expected_pools = [nn.MaxPool2d if g.kind == "max" else nn.AvgPool2d for g in genome if isinstance(g, PoolGene)]
    assert [type(p) for p in pools] == expected_pools
    # the first unit reads the image's channels, each later one its predecessor's width
    assert units[0].shortcut.in_channels == space.in_channels
    assert [u.shortcut.in_channels for u in units[1:]] == [u.shortcut.out_channels for u in units[:-1]]
    x = torch.randn(2, *space.input_shape)
    model.train()
    out = model(x)
    assert out.shape == (2, space.n_classes)
    assert torch.isfinite(out).all()
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, space.n_classes)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_most_pooled_genome_forward(shape):
    genome = Genome.from_string("S4-Pmax-S8-Pmean-S4-Pmax")
    SearchSpace(input_shape=shape, widths=(4, 8)).validate(genome)
    model = build_network(genome, shape, 10)
    with torch.no_grad():
        assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_skip_unit_structure():
    unit = build_network(Genome.from_string("S8"), (3, 32, 32), 10)[0]
    assert isinstance(unit, SkipUnit)
    body = list(unit.body)
    assert [type(m) for m in body] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d, nn.BatchNorm2d]
    conv1, bn1, _, conv2, bn2 = body
    assert (conv1.in_channels, conv1.out_channels) == (3, 8)
    assert (conv2.in_channels, conv2.out_channels) == (8, 8)
    for conv in (conv1, conv2):
        assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.stride == (1, 1)
    assert bn1.num_features == bn2.num_features == 8
    shortcut = unit.shortcut
    assert isinstance(shortcut, nn.Conv2d)
    assert shortcut.kernel_size == (1, 1) and shortcut.stride == (1, 1)
    assert (shortcut.in_channels, shortcut.out_channels) == (3, 8)
    # no other parameterised modules hide inside the unit
    assert sum(1 for m in unit.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))) == 5


def test_skip_unit_forward_is_relu_of_body_plus_shortcut():
    torch.manual_seed(0)
    unit = SkipUnit(3, 4).eval()
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        expected = torch.relu(unit.body(x.clone()) + unit.shortcut(x.clone()))
        out = unit(x.clone())
    assert out.shape == (2, 4, 6, 6)
    assert torch.allclose(out, expected)


def test_head_is_global_average_pool_then_linear():
    model = build_network(Genome.from_string("S8-Pmax-S4"), (1, 28, 28), 7)
    head = list(model)[-3:]
    assert isinstance(head[0], nn.AdaptiveAvgPool2d)
    assert isinstance(head[1], nn.Flatten)
    assert isinstance(head[2], nn.Linear) and (head[2].in_features, head[2].out_features) == (4, 7)


def test_count_parameters_by_hand():
    model = build_network(Genome.from_string("S8"), (1, 28, 28), 10)
    conv1 = 1 * 8 * 3 * 3  # no bias: batch norm follows
    bn1 = 2 * 8
    conv2 = 8 * 8 * 3 * 3
    bn2 = 2 * 8
    shortcut = 1 * 8
    linear = 8 * 10 + 10
    assert count_parameters(model) == conv1 + bn1 + conv2 + bn2 + shortcut + linear == 778


def test_count_parameters_ignores_frozen():
    model = build_network(Genome.from_string("S8"), (1, 28, 28), 10)
    model[-1].weight.requires_grad_(False)
    assert count_parameters(model) == 778 - 80


def test_count_flops_by_hand_and_growth():
    shape = (1, 28, 28)
    model = build_network(Genome.from_string("S8"), shape, 10)
    pixels = 28 * 28
    expected = 2 * pixels * (8 * 1 * 9 + 8 * 8 * 9 + 8 * 1) + 2 * 8 * 10
    assert count_flops(model, shape) == expected
    flops = [count_flops(build_network(Genome([SkipGene(w)]), shape, 10), shape) for w in (4, 8, 16)]
    assert 0 < flops[0] < flops[1] < flops[2]
    pooled = count_flops(build_network(Genome.from_string("S8-Pmax-S8"), shape, 10), shape)
    unpooled = count_flops(build_network(Genome.from_string("S8-S8"), shape, 10), shape)
    assert expected < pooled < unpooled


def test_count_flops_restores_training_mode():
    model = build_network(Genome.from_string("S4"), (1, 8, 8), 3)
    model.train()
    count_flops(model, (1, 8, 8))
    assert model.training
    model.eval()
    count_flops(model, (1, 8, 8))
    assert not model.training


@pytest.mark.parametrize(
    "text, shape",
    [("S4-Pmax", (1, 1, 1)), ("S4-Pmax-Pmean", (1, 2, 2)), ("S4-Pmax-S4-Pmax-Pmax", (3, 4, 4))],
)
def test_pooling_on_too_small_input_raises(text, shape):
    with pytest.raises(ValueError) as info:
        build_network(Genome.from_string(text), shape, 10)
    message = str(info.value)
    assert "below 1x1" in message
    assert text in message
    # the same genome is rejected by the search space for that input as well
    assert not SearchSpace(input_shape=shape).is_valid(Genome.from_string(text))


def test_genome_must_start_with_a_skip_unit():
    with pytest.raises(ValueError, match="start with a skip unit"):
        build_network(Genome.from_string("Pmax-S4"), (1, 8, 8), 10)
    with pytest.raises(ValueError, match="start with a skip unit"):
        build_network(Genome(), (1, 8, 8), 10)
