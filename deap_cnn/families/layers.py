"""Layers the family builders share (torch): the activation factory and 'same' padding."""

from __future__ import annotations

from torch import nn

from .base import is_int

__all__ = ["ACTIVATIONS", "make_activation", "conv_padding"]

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
    if not is_int(kernel_size) or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive integer, got {kernel_size!r}")
    return kernel_size // 2 if kernel_size % 2 else "same"
