"""The transfer family's search space, bounded by the backbone's layer count."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..base import (
    GenomeRules,
    SearchSpaceError,
    _check_image_shape_and_classes,
    is_int,
)
from ..hyper.genes import LINEAR_DECIMALS, LOG_DIGITS, quantize_linear, quantize_log
from .genome import TRANSFER_GENES, TransferGenome

__all__ = ["TransferSpace"]


@dataclass(frozen=True)
class TransferSpace(GenomeRules):
    """The bounds of every transfer gene, for one backbone and one input shape.

    Parameters
    ----------
    n_layers:
        Layers of the loaded backbone the input survives: the upper bound of
        ``kept``. Build it with ``TransferBuilder.space(...)``, which counts them.
    input_shape, n_classes:
        Of the data (the :class:`~deap_cnn.training.evaluator.Evaluator` checks them).
    lr_range:
        ``(low, high)`` of the log-scaled learning rate (3 significant digits each).
    dropout_range:
        ``(low, high)``, ``0 <= low <= high < 1`` (2 decimals each).
    backbone:
        The backbone's name, for messages.
    layer_sigma:
        Standard deviation of a layer gene's mutation step, as a share of ``n_layers`` (at least one layer).
    log_sigma:
        Standard deviation, in decades, of the learning rate's mutation.
    dropout_sigma:
        Standard deviation of the dropout's mutation.
    """

    genome_class = TransferGenome
    genome_label = "transfer genome"

    n_layers: int
    input_shape: tuple = (3, 224, 224)
    n_classes: int = 10
    lr_range: tuple = (1e-6, 1e-1)
    dropout_range: tuple = (0.1, 0.9)
    backbone: str = "densenet121"
    layer_sigma: float = 0.1
    log_sigma: float = 0.5
    dropout_sigma: float = 0.1

    def __post_init__(self):
        if not is_int(self.n_layers) or self.n_layers < 1:
            raise SearchSpaceError(f"n_layers must be an integer >= 1, got {self.n_layers!r}")
        _check_image_shape_and_classes(self)
        try:
            low, high = (float(v) for v in self.lr_range)
        except (TypeError, ValueError):
            raise SearchSpaceError(f"lr_range must be a (low, high) pair, got {self.lr_range!r}") from None
        if not (0 < low <= high and math.isfinite(high)):
            raise SearchSpaceError(f"lr_range must satisfy 0 < low <= high (a log scale), got {self.lr_range!r}")
        if quantize_log(low) != low or quantize_log(high) != high:
            raise SearchSpaceError(
                f"lr_range bounds must have at most {LOG_DIGITS} significant digits, got {self.lr_range!r}"
            )
        object.__setattr__(self, "lr_range", (low, high))
        try:
            low, high = (float(v) for v in self.dropout_range)
        except (TypeError, ValueError):
            raise SearchSpaceError(f"dropout_range must be a (low, high) pair, got {self.dropout_range!r}") from None
        if not 0 <= low <= high < 1:
            raise SearchSpaceError(f"dropout_range must satisfy 0 <= low <= high < 1, got {self.dropout_range!r}")
        if quantize_linear(low) != low or quantize_linear(high) != high:
            raise SearchSpaceError(
                f"dropout_range bounds must have at most {LINEAR_DECIMALS} decimals, got {self.dropout_range!r}"
            )
        object.__setattr__(self, "dropout_range", (low, high))
        for name in ("layer_sigma", "log_sigma", "dropout_sigma"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not value > 0
                or not math.isfinite(value)
            ):
                raise SearchSpaceError(f"{name} must be a positive number, got {value!r}")

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]

    def violations(self, genome) -> list[str]:
        """Every rule ``genome`` breaks, each naming the gene, its value and its bounds."""
        genes = list(genome)
        if len(genes) != len(TRANSFER_GENES):
            return [
                f"rule 'length': a transfer genome has {len(TRANSFER_GENES)} genes {TRANSFER_GENES}, got {len(genes)}"
            ]
        kept, frozen, lr, dropout = genes
        problems = []
        if not is_int(kept) or not 1 <= kept <= self.n_layers:
            problems.append(
                f"rule 'kept layers': keep={kept} is outside [1, {self.n_layers}] ({self.backbone} on {self.input_shape} inputs)"
            )
        if not is_int(frozen) or not 0 <= frozen:
            problems.append(f"rule 'frozen layers': freeze={frozen} must be an integer >= 0")
        elif is_int(kept) and frozen > kept:
            problems.append(f"rule 'frozen <= kept': freeze={frozen} exceeds keep={kept}")
        low, high = self.lr_range
        if not isinstance(lr, (int, float)) or not low <= lr <= high:
            problems.append(f"rule 'lr range': lr={lr} is outside [{low}, {high}]")
        low, high = self.dropout_range
        if not isinstance(dropout, (int, float)) or not low <= dropout <= high:
            problems.append(f"rule 'dropout range': drop={dropout} is outside [{low}, {high}]")
        return problems
