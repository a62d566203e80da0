"""A transfer-learning genome as numbers, for surrogate models."""

from __future__ import annotations

import math

__all__ = ["encode_transfer"]


def encode_transfer(genome, space) -> list:
    """Layers kept, layers frozen, log10 of the learning rate and the dropout rate."""
    kept, frozen, lr, dropout = genome
    return [float(kept), float(frozen), math.log10(lr), float(dropout)]
