"""The transfer-learning genome: layers kept and frozen, learning rate and dropout, and its text."""

from __future__ import annotations

import operator

from ..base import GenomeError, is_number
from ..hyper.genes import LOG_DIGITS, quantize_linear, quantize_log

__all__ = ["TRANSFER_GENES", "TransferGenome"]

#: The genes, in order.
TRANSFER_GENES = ("kept", "frozen", "lr", "dropout")


_TEXT_KEYS = ("keep", "freeze", "lr", "drop")


#: How the family trains (the paper's): Adam without weight decay at the genome's constant rate.
TRAIN_DEFAULTS = dict(optimizer="adam", weight_decay=0.0, schedule="constant")


#: What a search of the family minimises unless told otherwise (the paper's fitness): the validation loss.
OBJECTIVES = ("loss",)


def _normalise(genes):
    """The four genes with their types fixed and the floats rounded as the text rounds them."""
    genes = list(genes)
    if len(genes) != len(TRANSFER_GENES):
        raise GenomeError(
            f"a transfer genome holds {len(TRANSFER_GENES)} genes {TRANSFER_GENES}, got {len(genes)}: {genes!r}"
        )
    kept, frozen, lr, dropout = genes
    values = []
    for name, value in (("kept", kept), ("frozen", frozen)):
        if isinstance(value, bool):
            raise GenomeError(f"gene {name} must be an integer, got {value!r}")
        try:
            values.append(operator.index(value))
        except TypeError:
            raise GenomeError(f"gene {name} must be an integer, got {value!r}") from None
    for name, value, quantize in (("lr", lr, quantize_log), ("dropout", dropout, quantize_linear)):
        if not is_number(value):
            raise GenomeError(f"gene {name} must be a finite number, got {value!r}")
        if name == "lr" and value <= 0:
            raise GenomeError(f"gene lr must be > 0 (it lives on a log scale), got {value!r}")
        values.append(quantize(value))
    return values


class TransferGenome(list):
    """``[kept, frozen, lr, dropout]``: a fixed-length list, so DEAP builds individuals on it.

    ``creator.create("TransferIndividual", TransferGenome, fitness=creator.FitnessMax)``.
    Item assignment keeps the types and the rounding (``lr`` to 3 significant
    digits, ``dropout`` to 2 decimals), so ``str(g)`` always names ``g``'s
    values exactly and ``TransferGenome.from_string(str(g)) == g``.
    Whether the values fit a backbone is the space's business (:class:`~deap_cnn.families.transfer.space.TransferSpace`).
    """

    __slots__ = ()

    def __init__(self, genes=(8, 0, 1e-3, 0.5)):
        super().__init__(_normalise(genes))

    def __setitem__(self, index, value):
        super().__setitem__(index, value)
        if len(self) == len(TRANSFER_GENES):  # a wrong length is left for the space to report
            super().__setitem__(slice(None), _normalise(self))

    @property
    def kept(self) -> int:
        return self[0]

    @property
    def frozen(self) -> int:
        return self[1]

    @property
    def lr(self) -> float:
        return self[2]

    @property
    def dropout(self) -> float:
        return self[3]

    def __str__(self):
        if len(self) != len(TRANSFER_GENES):
            return ",".join(map(str, self))
        kept, frozen, lr, dropout = self
        return f"keep={kept},freeze={frozen},lr={lr:.{LOG_DIGITS}g},drop={dropout:g}"

    def __repr__(self):
        return f"{type(self).__name__}.from_string({str(self)!r})"

    @classmethod
    def from_string(cls, text: str):
        """Parse ``keep=42,freeze=10,lr=0.000316,drop=0.35``."""
        if not isinstance(text, str) or not text.strip():
            raise GenomeError(
                f"a transfer genome string must be non-empty, like 'keep=8,freeze=2,lr=0.001,drop=0.5', got {text!r}"
            )
        items = [item.strip().partition("=") for item in text.strip().split(",")]
        keys = tuple(key for key, _, _ in items)
        if keys != _TEXT_KEYS or any(not sep for _, sep, _ in items):
            raise GenomeError(
                f"cannot parse transfer genome {text!r}: expected the keys {_TEXT_KEYS} in that order, like 'keep=8,freeze=2,lr=0.001,drop=0.5'"
            )
        raw = [value for _, _, value in items]
        try:
            genes = [int(raw[0]), int(raw[1]), float(raw[2]), float(raw[3])]
        except ValueError:
            raise GenomeError(
                f"cannot parse transfer genome {text!r}: keep and freeze are integers, lr and drop numbers"
            ) from None
        return cls(genes)

    def training_overrides(self) -> dict:
        """The :class:`~deap_cnn.training.settings.TrainSettings` fields the genome sets: its learning rate."""
        return {"lr": self.lr}
