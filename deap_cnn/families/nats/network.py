"""The NATS-Bench topology network (torch): the benchmark's own skeleton around a cell genome.

Knows nothing of DEAP: a genome here is any sequence of six operation names
(:data:`~deap_cnn.families.nats.genome.OPERATIONS`, edges in the order of
:data:`~deap_cnn.families.nats.genome.EDGES`). At the benchmark's sizes
(16 channels, 5 cells per stage, 32x32 images, 10 classes) the parameter
count of every cell is the benchmark's published one.
"""

from __future__ import annotations

from torch import nn

from .genome import EDGES

__all__ = ["ReLUConvBN", "Zero", "Cell", "ReductionBlock", "build_cell_network"]


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution (no bias), batch norm: the benchmark's convolution operation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),  # edges share their input node: an in-place ReLU would change it for the others
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        )


class Zero(nn.Module):
    """The ``none`` operation: the edge carries nothing (zeros of the input's shape)."""

    def forward(self, x):
        return x.mul(0.0)


def edge_operation(name: str, channels: int) -> nn.Module:
    """The module of one edge of a cell with ``channels`` channels."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown cell operation {name!r}")


class Cell(nn.Module):
    """Four nodes; node ``j`` is the sum of every earlier node through its edge's operation; the cell is node 3."""

    def __init__(self, genome, channels: int):
        super().__init__()
        if len(genome) != len(EDGES):
            raise ValueError(f"a cell has {len(EDGES)} edges, got {len(genome)} operations: {list(genome)}")
        self.edges = nn.ModuleList(edge_operation(op, channels) for op in genome)

    def forward(self, x):
        nodes = [x]
        edge = 0
        for to in (1, 2, 3):
            total = self.edges[edge](nodes[0])
            for source in range(1, to):
                total = total + self.edges[edge + source](nodes[source])
            nodes.append(total)
            edge += to
        return nodes[-1]


class ReductionBlock(nn.Module):
    """A residual block that halves the maps and doubles the channels (the benchmark's ResNet basic block)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, stride=2)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3)
        # ceil_mode: odd map sides halve as the strided convolution does (32x32 inputs never meet it)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True), nn.Conv2d(in_channels, out_channels, 1, bias=False)
        )

    def forward(self, x):
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


def build_cell_network(
    genome, input_shape, n_classes: int, cell_channels: int = 16, cells_per_stage: int = 5
) -> nn.Sequential:
    """The benchmark's network around ``genome`` for ``input_shape = (C, H, W)`` images and ``n_classes``.

    A 3x3 convolution and batch norm (the stem), three stages of
    ``cells_per_stage`` cells at ``cell_channels``, twice and four times as
    many channels, a :class:`ReductionBlock` between stages, then batch
    norm, ReLU, global average pooling and a linear layer.
    """
    channels = cell_channels
    layers = [nn.Conv2d(input_shape[0], channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]
    for stage in range(3):
        if stage:
            layers.append(ReductionBlock(channels, channels * 2))
            channels *= 2
        layers.extend(Cell(genome, channels) for _ in range(cells_per_stage))
    layers += [
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, n_classes),
    ]
    return nn.Sequential(*layers)
