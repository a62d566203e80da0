"""Decode a CNN-GA genome into a standard ``torch.nn.Module``.

Knows nothing of DEAP: a genome here is any sequence of
:class:`~deap_cnn.genome.SkipGene` and :class:`~deap_cnn.genome.PoolGene`.

Head: global average pooling, then one linear layer to the classes. CNN-GA's
published code flattens into fully connected layers; global average pooling
keeps the head's size independent of the map size, so every valid genome
decodes to a network of modest size whatever its poolings.
"""

from __future__ import annotations

import torch
from torch import nn

from .genome import PoolGene, SkipGene

__all__ = [
    "ACTIVATIONS",
    "SkipUnit",
    "build_network",
    "make_activation",
    "conv_padding",
    "count_parameters",
    "count_flops",
    "save_network",
    "load_network",
]

#: Activation names the builders understand (``build_network(..., activation=...)``).
ACTIVATIONS = ("relu", "elu", "leaky_relu", "gelu", "silu")


def make_activation(name: str = "relu") -> nn.Module:
    """A fresh activation module for ``name`` (one of :data:`ACTIVATIONS`)."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "elu":
        return nn.ELU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01, inplace=True)
    if name == "gelu":
        return nn.GELU()
    if name == "silu":
        return nn.SiLU(inplace=True)
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


def conv_padding(kernel_size: int):
    """Padding that keeps the map size of a stride-1 convolution: ``k // 2`` for odd ``k``, ``"same"`` for even."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive integer, got {kernel_size!r}")
    return kernel_size // 2 if kernel_size % 2 else "same"


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
    hyperparameter genes (:mod:`deap_cnn.hyperparameters`); their defaults give
    CNN-GA's network exactly.
    """
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
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


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, input_shape) -> int:
    """FLOPs of one forward pass on a single ``input_shape`` image (PyTorch's FLOP counter).

    Counts each multiply-add as two FLOPs, convolutions and linear layers
    only, as ``torch.utils.flop_counter`` does.
    """
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def save_network(model: nn.Module, path, genome, input_shape, n_classes: int, **details):
    """Save ``model``'s ``state_dict`` to ``path`` and its architecture beside it as JSON.

    The JSON file (``path`` with the suffix ``.json``) holds the canonical
    genome, the input shape, the class count and any ``details`` (such as the
    test accuracy); :func:`load_network` rebuilds the module from the pair.
    """
    import json
    from pathlib import Path

    path = Path(path)
    torch.save(model.state_dict(), path)
    description = {
        "genome": "-".join(map(str, genome)),
        "input_shape": list(input_shape),
        "n_classes": int(n_classes),
        "weights": path.name,
        **details,
    }
    path.with_suffix(".json").write_text(json.dumps(description, indent=2))


def load_network(path, map_location="cpu") -> nn.Module:
    """Rebuild the module saved by :func:`save_network` (``path`` is the weights file or its JSON)."""
    import json
    from pathlib import Path

    from .genome import Genome

    path = Path(path)
    description = json.loads(path.with_suffix(".json").read_text())
    model = build_network(Genome.from_string(description["genome"]), description["input_shape"], description["n_classes"])
    weights = path.with_suffix(".json").with_name(description["weights"])
    model.load_state_dict(torch.load(weights, map_location=map_location, weights_only=True))
    return model
