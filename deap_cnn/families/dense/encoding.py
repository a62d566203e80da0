"""A fully connected genome as a fixed-length vector of numbers, for surrogate models."""

from __future__ import annotations

import math

from ..base import one_hot

__all__ = ["encode_dense"]


def encode_dense(genome, space) -> list:
    """Per layer slot up to ``space.max_layers``: present, log2 of the units, the activation one-hot and the
    dropout rate (zeros for an absent layer); then the layer count."""
    width = 3 + len(space.activations)
    vector = []
    for slot in range(space.max_layers):
        if slot < len(genome):
            layer = genome[slot]
            vector += [1.0, math.log2(layer.units), *one_hot(layer.activation, space.activations), layer.dropout]
        else:
            vector += [0.0] * width
    return vector + [float(len(genome))]
