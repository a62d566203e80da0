"""The fully connected genome: hidden layers of units, activation and dropout, and its canonical text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..base import GenomeError, is_int
from ..devol.genome import ACTIVATIONS, _is_dropout

__all__ = ["HiddenLayer", "DenseGenome"]

#: The traits of a hidden layer, in text order.
TRAITS = ("units", "activation", "dropout")


@dataclass(frozen=True)
class HiddenLayer:
    """One hidden layer: ``units`` wide, then ``activation``, then dropout at rate ``dropout``."""

    units: int
    activation: str = "relu"
    dropout: float = 0.0

    def __post_init__(self):
        if not is_int(self.units) or self.units < 1:
            raise GenomeError(f"hidden layer units must be a positive integer, got {self.units!r}")
        if self.activation not in ACTIVATIONS:
            raise GenomeError(f"hidden layer activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if not _is_dropout(self.dropout):
            raise GenomeError(f"hidden layer dropout must be a number in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "dropout", float(self.dropout))

    def __str__(self):
        return f"{self.units}:{self.activation}:{self.dropout!r}"


_LAYER_PATTERN = re.compile(r"^(?P<units>[1-9][0-9]*):(?P<activation>[a-z_]+):(?P<dropout>[0-9.e-]+)$")


def _parse_layer(token: str) -> HiddenLayer:
    match = _LAYER_PATTERN.match(token)
    if match is None:
        raise GenomeError(
            f"cannot parse hidden layer {token!r}: expected '<units>:<activation>:<dropout>' (e.g. 128:relu:0.2)"
        )
    try:
        dropout = float(match["dropout"])
    except ValueError:
        raise GenomeError(
            f"cannot parse hidden layer {token!r}: dropout {match['dropout']!r} is not a number"
        ) from None
    try:
        return HiddenLayer(int(match["units"]), match["activation"], dropout)
    except GenomeError as error:
        raise GenomeError(f"cannot parse hidden layer {token!r}: {error}") from None


class DenseGenome(list):
    """A sequence of :class:`HiddenLayer`, input side first.

    ``str(genome)`` is the canonical text and :meth:`from_string` reads it
    back: ``DenseGenome.from_string(str(g)) == g``.
    """

    __slots__ = ()

    def __init__(self, layers=()):
        layers = list(layers)
        for layer in layers:
            if not isinstance(layer, HiddenLayer):
                raise GenomeError(f"a dense genome holds HiddenLayer values, got {layer!r}")
        super().__init__(layers)

    @classmethod
    def from_string(cls, text: str):
        """Parse the canonical form, e.g. ``"256:relu:0.2-64:tanh:0.0"``."""
        if not isinstance(text, str) or not text.strip():
            raise GenomeError(f"a dense genome string must be non-empty, like '128:relu:0.2-64:tanh:0.0', got {text!r}")
        return cls(_parse_layer(token) for token in text.strip().split("-"))

    def __str__(self):
        return "-".join(str(layer) for layer in self)

    def __repr__(self):
        return f"{type(self).__name__}.from_string({str(self)!r})"
