"""Decode a DEvol genome into a standard ``torch.nn.Module``.

Each switched-on convolutional layer is, in DEvol's order, a 3x3 convolution
("same" padding), batch normalisation if its gene says so, the activation,
dropout if its rate is above zero, and 2x2 max pooling if its gene says so.
The maps are then flattened (as DEvol does) into the switched-on dense
layers: linear, batch normalisation, activation, dropout. A last linear
layer gives the class logits (the evaluator's cross-entropy applies the
softmax). Layers that are off are skipped.
"""

from __future__ import annotations

from torch import nn

from .genome import ACTIVATIONS, DevolGenome

__all__ = ["activation_module", "build_devol_network"]

_ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "linear": nn.Identity,
}


assert set(_ACTIVATION_MODULES) == set(ACTIVATIONS)


def activation_module(name: str) -> nn.Module:
    """A fresh torch module for an activation name from :data:`deap_cnn.families.devol.genome.ACTIVATIONS`."""
    if name not in _ACTIVATION_MODULES:
        raise ValueError(f"unknown activation {name!r}; known: {ACTIVATIONS}")
    return _ACTIVATION_MODULES[name]()


def build_devol_network(genome, input_shape, n_classes: int) -> nn.Sequential:
    """The network a DEvol genome (or its canonical text) encodes, for ``(C, H, W)`` inputs.

    ``DevolSpace`` carries both shapes: ``build_devol_network(g, space.input_shape, space.n_classes)``.
    """
    if isinstance(genome, str):
        genome = DevolGenome.from_string(genome)
    elif not isinstance(genome, DevolGenome):
        genome = DevolGenome(genome)
    channels, height, width = input_shape
    layers = []
    for layer in genome.conv_layers:
        if not layer.active:
            continue
        layers.append(nn.Conv2d(channels, layer.filters, 3, padding=1, bias=not layer.batchnorm))
        if layer.batchnorm:
            layers.append(nn.BatchNorm2d(layer.filters))
        layers.append(activation_module(layer.activation))
        if layer.dropout > 0:
            layers.append(nn.Dropout(layer.dropout))
        if layer.max_pooling:
            if min(height, width) < 2:
                raise ValueError(
                    f"genome {genome} pools a {height}x{width} map below 1x1; "
                    "validate it against a DevolSpace for this input shape first"
                )
            layers.append(nn.MaxPool2d(2, 2))
            height, width = height // 2, width // 2
        channels = layer.filters
    layers.append(nn.Flatten())
    features = channels * height * width
    for layer in genome.dense_layers:
        if not layer.active:
            continue
        layers.append(nn.Linear(features, layer.units, bias=not layer.batchnorm))
        if layer.batchnorm:
            layers.append(nn.BatchNorm1d(layer.units))
        layers.append(activation_module(layer.activation))
        if layer.dropout > 0:
            layers.append(nn.Dropout(layer.dropout))
        features = layer.units
    layers.append(nn.Linear(features, n_classes))
    return nn.Sequential(*layers)
