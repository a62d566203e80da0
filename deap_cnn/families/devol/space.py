"""DEvol's search space (its GenomeHandler): layer counts, choices per gene, pooling bound."""

from __future__ import annotations

from dataclasses import dataclass

from ..base import (
    GenomeRules,
    SearchSpaceError,
    _as_choices,
    _check_image_shape_and_classes,
    is_int,
    max_pool_units_for,
)
from .genome import (
    _ACTIVATION_FIELDS,
    _DROPOUT_FIELDS,
    ACTIVATIONS,
    CONV_FIELDS,
    DENSE_FIELDS,
    FIELDS,
    OPTIMIZER_CHOICES,
    DevolGene,
    DevolGenome,
    _is_dropout,
    _is_size,
)

__all__ = ["DevolSpace"]


@dataclass(frozen=True)
class DevolSpace(GenomeRules):
    """Everything a DEvol genome must keep, as DEvol's ``GenomeHandler`` sets it.

    Parameters
    ----------
    input_shape:
        ``(channels, height, width)`` of the images.
    n_classes:
        Number of output classes (at least 2).
    max_conv_layers, max_dense_layers:
        ``N`` and ``M``: convolutional and hidden dense layers in every
        genome, each on or off (DEvol counts the output layer among its dense
        layers; here it is always there and not counted).
    feature_maps, units:
        Allowed feature maps of a convolutional layer and units of a dense
        layer (DEvol: powers of two up to ``max_filters`` and ``max_dense_nodes``).
    activations:
        Allowed activations (names from :data:`ACTIVATIONS`; DEvol: relu, sigmoid).
    dropouts:
        Allowed dropout rates in ``[0, 1)``.
    batch_normalization, dropout, max_pooling:
        Whether the options are allowed at all; an option that is not is
        always off (dropout always 0.0).
    optimizers:
        Allowed optimiser genes, from :data:`OPTIMIZER_CHOICES`.
    max_pool_layers:
        Most switched-on pooling layers; ``None`` (default): as many 2x2
        poolings as the input survives without falling below 1x1. A larger
        explicit value is an error.
    """

    # The Evaluator's default builder, named rather than imported: this module stays torch-free.
    network_builder = "deap_cnn.families.devol.network:build_devol_network"

    genome_class = DevolGenome
    genome_label = "DEvol genome"

    input_shape: tuple = (1, 28, 28)
    n_classes: int = 10
    max_conv_layers: int = 3
    max_dense_layers: int = 2
    feature_maps: tuple = (8, 16, 32, 64)
    units: tuple = (16, 32, 64, 128)
    activations: tuple = ("relu", "sigmoid")
    dropouts: tuple = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    batch_normalization: bool = True
    dropout: bool = True
    max_pooling: bool = True
    optimizers: tuple = ("sgd", "adam", "rmsprop")
    max_pool_layers: int | None = None

    def __post_init__(self):
        _check_image_shape_and_classes(self)
        shape = self.input_shape
        for name in ("max_conv_layers", "max_dense_layers"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 0:
                raise SearchSpaceError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        for name in ("batch_normalization", "dropout", "max_pooling"):
            if not isinstance(getattr(self, name), bool):
                raise SearchSpaceError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("feature_maps", "units"):
            object.__setattr__(self, name, _as_choices(getattr(self, name), name, _is_size, "positive integers"))
        object.__setattr__(
            self,
            "activations",
            _as_choices(self.activations, "activations", lambda v: v in ACTIVATIONS, f"names from {ACTIVATIONS}"),
        )
        dropouts = _as_choices(self.dropouts, "dropouts", _is_dropout, "numbers in [0, 1)")
        object.__setattr__(self, "dropouts", tuple(dict.fromkeys(float(p) for p in dropouts)))
        object.__setattr__(
            self,
            "optimizers",
            _as_choices(
                self.optimizers, "optimizers", lambda v: v in OPTIMIZER_CHOICES, f"names from {OPTIMIZER_CHOICES}"
            ),
        )
        allowed = max_pool_units_for(shape[1], shape[2])
        if self.max_pool_layers is None:
            object.__setattr__(self, "max_pool_layers", allowed)
        elif not is_int(self.max_pool_layers) or self.max_pool_layers < 0:
            raise SearchSpaceError(f"max_pool_layers must be None or an integer >= 0, got {self.max_pool_layers!r}")
        elif self.max_pool_layers > allowed:
            raise SearchSpaceError(
                f"input shape {shape} is too small for max_pool_layers={self.max_pool_layers}: "
                f"{shape[1]}x{shape[2]} maps survive at most {allowed} 2x2 poolings before falling below 1x1"
            )

    @property
    def layout(self) -> tuple:
        """The gene name at every position: ``N`` convolutional layers, ``M`` dense layers, the optimiser."""
        return CONV_FIELDS * self.max_conv_layers + DENSE_FIELDS * self.max_dense_layers + ("optimizer",)

    @property
    def length(self) -> int:
        return len(self.layout)

    def choices(self, field: str) -> tuple:
        """The values gene ``field`` may take in this space (a disallowed option has only its 'off' value)."""
        if field in ("conv_active", "dense_active"):
            return (False, True)
        if field == "filters":
            return self.feature_maps
        if field == "units":
            return self.units
        if field in _ACTIVATION_FIELDS:
            return self.activations
        if field in _DROPOUT_FIELDS:
            return self.dropouts if self.dropout else (0.0,)
        if field in ("conv_batchnorm", "dense_batchnorm"):
            return (False, True) if self.batch_normalization else (False,)
        if field == "max_pooling":
            return (False, True) if self.max_pooling and self.max_pool_layers > 0 else (False,)
        if field == "optimizer":
            return self.optimizers
        raise KeyError(f"unknown gene field {field!r}; fields are {FIELDS}")

    def describe(self, position: int) -> str:
        """Which layer property a position holds, e.g. ``"conv layer 1 filters"``."""
        conv_width, dense_width = len(CONV_FIELDS), len(DENSE_FIELDS)
        if position < conv_width * self.max_conv_layers:
            return f"conv layer {position // conv_width} {CONV_FIELDS[position % conv_width]}"
        rest = position - conv_width * self.max_conv_layers
        if rest < dense_width * self.max_dense_layers:
            return f"dense layer {rest // dense_width} {DENSE_FIELDS[rest % dense_width]}"
        return "optimizer"

    def violations(self, genome) -> list[str]:
        """Every rule ``genome`` breaks, each naming the rule and the offending value."""
        genes = list(genome)
        layout = self.layout
        bad = [n for n, g in enumerate(genes) if not isinstance(g, DevolGene)]
        if bad:
            return [f"rule 'gene type': position {bad[0]} holds {genes[bad[0]]!r}, not a DevolGene"]
        if len(genes) != len(layout):
            return [
                f"rule 'fixed width': {len(genes)} genes, but {self.max_conv_layers} conv and "
                f"{self.max_dense_layers} dense layers plus the optimiser make {len(layout)}"
            ]
        problems = []
        for position, (gene, field) in enumerate(zip(genes, layout, strict=True)):
            if gene.field != field:
                problems.append(
                    f"rule 'layout': position {position} must be {self.describe(position)}, got {gene.field!r}"
                )
            elif gene.value not in self.choices(field):
                problems.append(
                    f"rule 'allowed values': {self.describe(position)} is {gene.value!r}, allowed {self.choices(field)}"
                )
        if not problems:
            pools = DevolGenome(genes).pool_count
            if pools > self.max_pool_layers:
                problems.append(
                    f"rule 'pooling depth': {pools} switched-on layers pool, at most {self.max_pool_layers} "
                    f"keep {self.input_shape[1]}x{self.input_shape[2]} maps at 1x1 or more"
                )
        return problems


def _pool_count(genes) -> int:
    count, active = 0, False
    for gene in genes:
        if gene.field == "conv_active":
            active = gene.value
        elif gene.field == "max_pooling":
            count += active and gene.value
    return count
