"""The NATS-Bench topology space: which operations an edge may take, and the network's size around the cell."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..base import GenomeRules, SearchSpaceError, _as_choices, _check_image_shape_and_classes, is_int
from .genome import EDGES, OPERATIONS, CellGenome

__all__ = ["NatsSpace", "CellNetworkBuilder"]

#: Multiply-adds per output pixel and channel pair of each operation (parameter-free ones: none).
_CONV_TAPS = {"nor_conv_3x3": 9, "nor_conv_1x1": 1}


def _halve(size: int) -> int:
    """A map side after a stride-2 step (3x3 convolution with padding 1, or 2x2 pooling rounding up)."""
    return (size + 1) // 2


@dataclass(frozen=True)
class CellNetworkBuilder:
    """``builder(genome, input_shape, n_classes)``: the benchmark's network at these sizes (torch, imported late).

    A small picklable object, so the space stays torch-free and workers
    receive the sizes with it; its :meth:`fingerprint` keys cached fitness.
    """

    cell_channels: int = 16
    cells_per_stage: int = 5

    def __call__(self, genome, input_shape, n_classes):
        from .network import build_cell_network

        return build_cell_network(genome, input_shape, n_classes, self.cell_channels, self.cells_per_stage)

    def fingerprint(self) -> str:
        return f"nats-cell-network/1:C{self.cell_channels}:N{self.cells_per_stage}"


@dataclass(frozen=True)
class NatsSpace(GenomeRules):
    """Every constraint of a NATS-Bench topology cell, and the network it is repeated in.

    Parameters
    ----------
    input_shape, n_classes:
        The images (``(channels, height, width)``, at least 4x4) and classes.
    operations:
        The operations an edge may take (default all five of
        :data:`~deap_cnn.families.nats.genome.OPERATIONS`: 5**6 = 15,625 cells).
    cell_channels:
        Channels of the first stage (the benchmark's 16; the second and third
        stages have twice and four times as many).
    cells_per_stage:
        Cells in each of the three stages (the benchmark's 5).

    Notes
    -----
    The network (:mod:`deap_cnn.families.nats.network`) is the benchmark's: a 3x3 convolution stem,
    three stages of ``cells_per_stage`` cells with a residual reduction block
    between stages, then batch norm, ReLU, global pooling and a linear layer.
    """

    genome_class = CellGenome
    genome_label = "cell"

    input_shape: tuple = (3, 32, 32)
    n_classes: int = 10
    operations: tuple = OPERATIONS
    cell_channels: int = 16
    cells_per_stage: int = 5

    def __post_init__(self):
        _check_image_shape_and_classes(self)
        if min(self.input_shape[1:]) < 4:
            raise SearchSpaceError(
                f"input_shape {self.input_shape} is too small for the cell network: it halves the maps twice, "
                "so images need at least 4x4 pixels"
            )
        object.__setattr__(
            self,
            "operations",
            _as_choices(self.operations, "operations", lambda op: op in OPERATIONS, f"names from {OPERATIONS}"),
        )
        for name in ("cell_channels", "cells_per_stage"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise SearchSpaceError(f"{name} must be an integer >= 1, got {value!r}")

    @property
    def network_builder(self) -> CellNetworkBuilder:
        """The builder of this space's networks (an Evaluator picks it up)."""
        return CellNetworkBuilder(self.cell_channels, self.cells_per_stage)

    def violations(self, genome) -> list[str]:
        """Every rule ``genome`` breaks, each naming the rule and the offending value."""
        operations = list(genome)
        if len(operations) != len(EDGES):
            return [f"rule 'six edges': a cell has {len(EDGES)} edges, got {len(operations)} operations"]
        return [
            f"rule 'operations': edge {source}->{to} is {op!r}, allowed operations are {self.operations}"
            for op, (to, source) in zip(operations, EDGES, strict=True)
            if op not in self.operations
        ]

    @property
    def size(self) -> int:
        """How many cells the space holds."""
        return len(self.operations) ** len(EDGES)

    def all_genomes(self):
        """Every cell of the space, in a fixed order (a table lookup checks that it covers them all)."""
        return (CellGenome(ops) for ops in itertools.product(self.operations, repeat=len(EDGES)))

    def largest_genome(self) -> CellGenome:
        """The most expensive cell: each edge the costliest operation allowed."""
        costliest = max(self.operations, key=lambda op: _CONV_TAPS.get(op, 0))
        return CellGenome([costliest] * len(EDGES))

    def _stages(self):
        """``(channels, height, width)`` of each of the three stages."""
        _, height, width = self.input_shape
        stages = []
        for stage in range(3):
            stages.append((self.cell_channels * 2**stage, height, width))
            height, width = _halve(height), _halve(width)
        return stages

    def macs(self, genome) -> int:
        """Multiply-adds of one forward pass on one image (convolutions and the linear layer).

        Half of PyTorch's FLOP count of the built network; the benchmark's
        published FLOPs are this plus one per class (its counter adds the
        linear layer's bias).
        """
        in_channels = self.input_shape[0]
        stages = self._stages()
        channels, height, width = stages[0]
        total = height * width * channels * in_channels * 9  # stem
        taps = sum(_CONV_TAPS.get(op, 0) for op in genome)
        for stage, (channels, height, width) in enumerate(stages):
            total += self.cells_per_stage * taps * height * width * channels * channels
            if stage:  # the reduction block in front of this stage, at its (halved) map size
                previous = stages[stage - 1][0]
                total += height * width * channels * (9 * previous + 9 * channels + previous)
        return total + stages[-1][0] * self.n_classes

    cost = macs  # what the engines order candidates by: a torch-free estimate of the training cost

    def parameters(self, genome) -> int:
        """Trainable parameters of the built network (the benchmark's ``params``, in units, not millions)."""
        in_channels = self.input_shape[0]
        stages = self._stages()
        channels = stages[0][0]
        total = in_channels * 9 * channels + 2 * channels  # stem convolution and batch norm
        for stage, (channels, _, _) in enumerate(stages):
            for op in genome:
                taps = _CONV_TAPS.get(op)
                if taps:
                    total += self.cells_per_stage * (taps * channels * channels + 2 * channels)
            if stage:
                previous = stages[stage - 1][0]
                total += 9 * previous * channels + 9 * channels * channels + 4 * channels + previous * channels
        last = stages[-1][0]
        return total + 2 * last + last * self.n_classes + self.n_classes
