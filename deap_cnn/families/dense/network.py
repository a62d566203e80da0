"""Decode a fully connected genome into a standard ``torch.nn.Module``.

Inputs of more than one dimension are flattened first. Each hidden layer is
linear, then its activation, then dropout when its rate is above zero; a
last linear layer gives the class logits (the evaluator's cross-entropy
applies the softmax).
"""

from __future__ import annotations

import math

from torch import nn

from ..devol.network import activation_module
from .genome import DenseGenome

__all__ = ["build_dense_network"]


def build_dense_network(genome, input_shape, n_classes: int) -> nn.Sequential:
    """The network a fully connected genome (or its canonical text) encodes.

    ``DenseSpace`` carries both shapes: ``build_dense_network(g, space.input_shape, space.n_classes)``.
    """
    if isinstance(genome, str):
        genome = DenseGenome.from_string(genome)
    elif not isinstance(genome, DenseGenome):
        genome = DenseGenome(genome)
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    layers = [nn.Flatten()] if len(shape) > 1 else []
    features = math.prod(shape)
    for layer in genome:
        layers += [nn.Linear(features, layer.units), activation_module(layer.activation)]
        if layer.dropout > 0:
            layers.append(nn.Dropout(layer.dropout))
        features = layer.units
    layers.append(nn.Linear(features, n_classes))
    return nn.Sequential(*layers)
