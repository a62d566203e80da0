"""The fully connected family's search space: layer counts and the choices of each trait."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..base import GenomeRules, SearchSpaceError, _as_choices, is_int
from ..devol.genome import ACTIVATIONS, _is_dropout
from .genome import TRAITS, DenseGenome, HiddenLayer

__all__ = ["DENSE_MUTATIONS", "DenseSpace"]

#: Mutation types of :func:`~deap_cnn.families.dense.operators.mut_dense`, in the order of :attr:`DenseSpace.mutation_weights`.
DENSE_MUTATIONS = ("units", "activation", "dropout", "add", "remove")


@dataclass(frozen=True)
class DenseSpace(GenomeRules):
    """Everything a fully connected genome must keep.

    Parameters
    ----------
    input_shape:
        Shape of one sample: ``(features,)`` for vectors (an int is read as
        that); an image shape also works, flattened by the network.
    n_classes:
        Number of output classes (at least 2).
    min_layers, max_layers:
        Bounds on the number of hidden layers (DeepLearnGene: 1 to 12).
    units, activations, dropouts:
        Allowed widths, activation names (from :data:`deap_cnn.families.devol.genome.ACTIVATIONS`)
        and dropout rates of a hidden layer.
    mutation_weights:
        Relative weights of the mutation types in :data:`DENSE_MUTATIONS`
        (change a width, an activation or a dropout rate; add or remove a layer).
    """

    # The Evaluator's default builder, named rather than imported: this module stays torch-free.
    network_builder = "deap_cnn.families.dense.network:build_dense_network"

    genome_class = DenseGenome
    genome_label = "dense genome"

    input_shape: tuple = (64,)
    n_classes: int = 10
    min_layers: int = 1
    max_layers: int = 4
    units: tuple = (16, 32, 64, 128, 256)
    activations: tuple = ("relu", "tanh", "sigmoid", "elu")
    dropouts: tuple = (0.0, 0.1, 0.2, 0.3, 0.5)
    mutation_weights: tuple = (1.0, 1.0, 1.0, 1.0, 1.0)

    def __post_init__(self):
        shape = (self.input_shape,) if is_int(self.input_shape) else self.input_shape
        try:
            shape = tuple(shape)
        except TypeError:
            shape = ()
        if not shape or not all(is_int(v) and v >= 1 for v in shape):
            raise SearchSpaceError(
                f"input_shape must be (features,) or another shape of positive integers, got {self.input_shape!r}"
            )
        object.__setattr__(self, "input_shape", shape)
        if not is_int(self.n_classes) or self.n_classes < 2:
            raise SearchSpaceError(f"n_classes must be an integer >= 2, got {self.n_classes!r}")
        if not is_int(self.min_layers) or self.min_layers < 1:
            raise SearchSpaceError(f"min_layers must be an integer >= 1, got {self.min_layers!r}")
        if not is_int(self.max_layers) or self.max_layers < self.min_layers:
            raise SearchSpaceError(
                f"max_layers must be an integer >= min_layers ({self.min_layers}), got {self.max_layers!r}"
            )
        object.__setattr__(
            self, "units", _as_choices(self.units, "units", lambda v: is_int(v) and v >= 1, "positive integers")
        )
        object.__setattr__(
            self,
            "activations",
            _as_choices(self.activations, "activations", lambda v: v in ACTIVATIONS, f"names from {ACTIVATIONS}"),
        )
        dropouts = _as_choices(self.dropouts, "dropouts", _is_dropout, "numbers in [0, 1)")
        object.__setattr__(self, "dropouts", tuple(dict.fromkeys(float(p) for p in dropouts)))
        try:
            if isinstance(self.mutation_weights, (str, bytes)):
                raise TypeError
            weights = tuple(float(w) for w in self.mutation_weights)
        except (TypeError, ValueError):
            weights = ()
        if (
            len(weights) != len(DENSE_MUTATIONS)
            or any(w < 0 or not math.isfinite(w) for w in weights)
            or sum(weights) <= 0
        ):
            raise SearchSpaceError(
                f"mutation_weights must be {len(DENSE_MUTATIONS)} non-negative weights for {DENSE_MUTATIONS} "
                f"with a positive sum, got {self.mutation_weights!r}"
            )
        object.__setattr__(self, "mutation_weights", weights)

    def choices(self, trait: str) -> tuple:
        """Allowed values of a hidden layer's ``"units"``, ``"activation"`` or ``"dropout"``."""
        if trait not in TRAITS:
            raise KeyError(f"unknown trait {trait!r}; traits are {TRAITS}")
        return {"units": self.units, "activation": self.activations, "dropout": self.dropouts}[trait]

    def violations(self, genome) -> list[str]:
        """Every rule ``genome`` breaks, each naming the rule and the offending value."""
        layers = list(genome)
        problems = []
        if not self.min_layers <= len(layers) <= self.max_layers:
            problems.append(
                f"rule 'layer count': {len(layers)} hidden layers, allowed {self.min_layers} to {self.max_layers}"
            )
        for position, layer in enumerate(layers):
            if not isinstance(layer, HiddenLayer):
                problems.append(f"rule 'gene type': layer {position} is {layer!r}, not a HiddenLayer")
                continue
            for trait in TRAITS:
                value = getattr(layer, trait)
                if value not in self.choices(trait):
                    problems.append(
                        f"rule 'allowed values': layer {position} has {trait} {value!r}, allowed {self.choices(trait)}"
                    )
        return problems
