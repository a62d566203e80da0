"""A DEvol genome as a fixed-length vector of numbers, for surrogate models."""

from __future__ import annotations

import math

from ..base import one_hot
from .genome import ACTIVATIONS

__all__ = ["encode_devol"]


def encode_devol(genome, space) -> list:
    """One or more numbers per gene, in genome order: on/off and flags as 0/1, sizes as log2, dropout as it is,
    activations and the optimiser one-hot over the space's choices (silent genes of layers that are off too)."""
    vector = []
    for gene in genome:
        value = gene.value
        if isinstance(value, bool):
            vector.append(float(value))
        elif gene.field in ("filters", "units"):
            vector.append(math.log2(value))
        elif gene.field in ("conv_dropout", "dense_dropout"):
            vector.append(float(value))
        elif value in ACTIVATIONS:
            vector.extend(one_hot(value, space.activations))
        else:
            vector.extend(one_hot(value, space.optimizers))
    return vector
