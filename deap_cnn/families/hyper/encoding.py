"""A genome with hyperparameter genes as a fixed-length vector of numbers, for surrogate models."""

from __future__ import annotations

import math

from ..base import one_hot

__all__ = ["encode_hyper", "encode_genes"]


def encode_genes(hyper, space) -> list:
    """The hyperparameter genes: log10 of the learning rate and weight decay, log2 of the batch size, the
    optimiser and activation one-hot over the space's choices, the dropout rate and the kernel size."""
    return [
        math.log10(hyper.lr),
        math.log10(max(hyper.weight_decay, 1e-12)),  # a weight decay of 0 would have no logarithm
        math.log2(hyper.batch_size),
        *one_hot(hyper.optimizer, space.optimizers),
        hyper.dropout,
        *one_hot(hyper.activation, space.activations),
        float(hyper.kernel_size),
    ]


def encode_hyper(genome, space, arch_encode) -> list:
    """The architecture's numbers (``arch_encode(genome, space.arch)``, the base family's) and the genes'."""
    return list(arch_encode(genome, space.arch)) + encode_genes(genome.hyper, space.hyper)
