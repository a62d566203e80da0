"""Decode a CNN-GA genome into a standard ``torch.nn.Module``.

Knows nothing of DEAP: a genome here is any sequence of
:class:`~deap_cnn.families.cnn_ga.genome.SkipGene` and :class:`~deap_cnn.families.cnn_ga.genome.PoolGene`.

Head: global average pooling, then one linear layer to the classes. CNN-GA's
published code flattens into fully connected layers; global average pooling
keeps the head's size independent of the map size, so every valid genome
decodes to a network of modest size whatever its poolings.
"""

from __future__ import annotations

from torch import nn

from ..base import is_real
from ..layers import conv_padding, make_activation
from .genome import PoolGene, SkipGene

__all__ = ["SkipUnit", "build_network"]


class SkipUnit(nn.Module):
    """3x3 conv-BN-ReLU-3x3 conv-BN, plus a 1x1 conv shortcut to the same width, added, then ReLU.

    ``activation`` and ``kernel_size`` (defaults: CNN-GA's ReLU and 3x3) replace
    both activations and both body convolutions' size; the shortcut stays 1x1.
    """

    def __init__(self, in_channels: int, width: int, activation: str = "relu", kernel_size: int = 3):
        super().__init__()
        padding = conv_padding(kernel_size)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size, padding=padding, bias=False),
            nn.BatchNorm2d(width),
            make_activation(activation),
            nn.Conv2d(width, width, kernel_size, padding=padding, bias=False),
            nn.BatchNorm2d(width),
        )
        self.shortcut = nn.Conv2d(in_channels, width, 1, bias=False)
        self.relu = make_activation(activation)  # the name stays from CNN-GA's ReLU-only unit

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


def build_network(
    genome, input_shape, n_classes: int, activation: str = "relu", kernel_size: int = 3, dropout: float = 0.0
) -> nn.Sequential:
    """The network a genome encodes, for ``input_shape = (C, H, W)`` images and ``n_classes`` outputs.

    ``deap_cnn.SearchSpace`` carries both: ``build_network(g, space.input_shape, space.n_classes)``.
    ``activation``, ``kernel_size`` (of every skip unit) and ``dropout`` (before
    the linear layer; no dropout module at all when 0) are the architecture-wide
    hyperparameter genes (:mod:`deap_cnn.families.hyper`); their defaults give
    CNN-GA's network exactly.
    """
    if not is_real(dropout) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    channels, height, width = input_shape
    layers = []
    for gene in genome:
        if isinstance(gene, SkipGene):
            layers.append(SkipUnit(channels, gene.width, activation, kernel_size))
            channels = gene.width
        elif isinstance(gene, PoolGene):
            if min(height, width) < 2:
                raise ValueError(
                    f"genome {'-'.join(map(str, genome))} pools a {height}x{width} map below 1x1; "
                    "validate it against a SearchSpace for this input shape first"
                )
            height, width = height // 2, width // 2
            layers.append(nn.MaxPool2d(2, 2) if gene.kind == "max" else nn.AvgPool2d(2, 2))
        else:
            raise TypeError(f"unknown gene {gene!r}")
    if not layers or not isinstance(genome[0], SkipGene):
        raise ValueError("a genome must start with a skip unit")
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(channels, n_classes))
    return nn.Sequential(*layers)
