"""Transfer learning over a pretrained backbone: a fixed-length genome of four genes.

After Safiuddin's "Genetic algorithm for transfer learning in a deep CNN"
(DenseNet-121): a chromosome holds

=========  ====================================================  ================
gene       meaning                                               range
=========  ====================================================  ================
``kept``   layers kept from the backbone, counted from its input  1 to n
``frozen`` of those, how many (from the input) are not trained   0 to ``kept``
``lr``     learning rate, log scale                              1e-6 to 1e-1
``dropout`` dropout before the new classifier                    0.1 to 0.9
=========  ====================================================  ================

``n`` is the number of layers of the backbone *actually loaded* that the
input images survive: :meth:`deap_cnn.transfer_network.TransferBuilder.space`
builds the :class:`TransferSpace` from it (58 dense layers for DenseNet-121
on 32x32 images, 42 on 28x28, whose maps vanish before the last block).
Operators: two-point crossover that repairs ``frozen <= kept``, bounded
mutation, tournaments of two. Fitness is the negated validation loss by
default (``deap_cnn.transfer_network.transfer_settings``); the ``lr`` gene
reaches training through :meth:`TransferGenome.training_overrides`.

Like every genome side of the package, this module imports no torch.
"""

from __future__ import annotations

import math
import operator
import random
from dataclasses import dataclass

from .genome import GenomeError
from .hyperparameters import LINEAR_DECIMALS, LOG_DIGITS, quantize_linear, quantize_log
from .space import GenomeRules, SearchSpaceError, _is_int

__all__ = [
    "TRANSFER_GENES",
    "TransferGenome",
    "TransferSpace",
    "random_transfer_genome",
    "init_transfer_genome",
    "cx_two_point",
    "mut_transfer",
    "sel_tournament",
    "changeable_genes",
]

#: The genes, in order.
TRANSFER_GENES = ("kept", "frozen", "lr", "dropout")
_TEXT_KEYS = ("keep", "freeze", "lr", "drop")

#: Attempts a Gaussian mutation makes to land on a different value before drawing across the range.
_GAUSS_TRIES = 20


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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
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
    Whether the values fit a backbone is the space's business (:class:`TransferSpace`).
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
            raise GenomeError(f"a transfer genome string must be non-empty, like 'keep=8,freeze=2,lr=0.001,drop=0.5', got {text!r}")
        items = [item.strip().partition("=") for item in text.strip().split(",")]
        keys = tuple(key for key, _, _ in items)
        if keys != _TEXT_KEYS or any(not sep for _, sep, _ in items):
            raise GenomeError(f"cannot parse transfer genome {text!r}: expected the keys {_TEXT_KEYS} in that order, like 'keep=8,freeze=2,lr=0.001,drop=0.5'")
        raw = [value for _, _, value in items]
        try:
            genes = [int(raw[0]), int(raw[1]), float(raw[2]), float(raw[3])]
        except ValueError:
            raise GenomeError(f"cannot parse transfer genome {text!r}: keep and freeze are integers, lr and drop numbers") from None
        return cls(genes)

    def training_overrides(self) -> dict:
        """The :class:`~deap_cnn.evaluate.TrainSettings` fields the genome sets: its learning rate."""
        return {"lr": self.lr}


@dataclass(frozen=True)
class TransferSpace(GenomeRules):
    """The bounds of every transfer gene, for one backbone and one input shape.

    Parameters
    ----------
    n_layers:
        Layers of the loaded backbone the input survives: the upper bound of
        ``kept``. Build it with ``TransferBuilder.space(...)``, which counts them.
    input_shape, n_classes:
        Of the data (the :class:`~deap_cnn.evaluate.Evaluator` checks them).
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
        if not _is_int(self.n_layers) or self.n_layers < 1:
            raise SearchSpaceError(f"n_layers must be an integer >= 1, got {self.n_layers!r}")
        try:
            shape = tuple(self.input_shape)
        except TypeError:
            shape = ()
        if len(shape) != 3 or not all(_is_int(v) and v >= 1 for v in shape):
            raise SearchSpaceError(f"input_shape must be (channels, height, width) of positive integers, got {self.input_shape!r}")
        object.__setattr__(self, "input_shape", shape)
        if not _is_int(self.n_classes) or self.n_classes < 2:
            raise SearchSpaceError(f"n_classes must be an integer >= 2, got {self.n_classes!r}")
        try:
            low, high = (float(v) for v in self.lr_range)
        except (TypeError, ValueError):
            raise SearchSpaceError(f"lr_range must be a (low, high) pair, got {self.lr_range!r}") from None
        if not (0 < low <= high and math.isfinite(high)):
            raise SearchSpaceError(f"lr_range must satisfy 0 < low <= high (a log scale), got {self.lr_range!r}")
        if quantize_log(low) != low or quantize_log(high) != high:
            raise SearchSpaceError(f"lr_range bounds must have at most {LOG_DIGITS} significant digits, got {self.lr_range!r}")
        object.__setattr__(self, "lr_range", (low, high))
        try:
            low, high = (float(v) for v in self.dropout_range)
        except (TypeError, ValueError):
            raise SearchSpaceError(f"dropout_range must be a (low, high) pair, got {self.dropout_range!r}") from None
        if not 0 <= low <= high < 1:
            raise SearchSpaceError(f"dropout_range must satisfy 0 <= low <= high < 1, got {self.dropout_range!r}")
        if quantize_linear(low) != low or quantize_linear(high) != high:
            raise SearchSpaceError(f"dropout_range bounds must have at most {LINEAR_DECIMALS} decimals, got {self.dropout_range!r}")
        object.__setattr__(self, "dropout_range", (low, high))
        for name in ("layer_sigma", "log_sigma", "dropout_sigma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                raise SearchSpaceError(f"{name} must be a positive number, got {value!r}")

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]

    def violations(self, genome) -> list[str]:
        """Every rule ``genome`` breaks, each naming the gene, its value and its bounds."""
        genes = list(genome)
        if len(genes) != len(TRANSFER_GENES):
            return [f"rule 'length': a transfer genome has {len(TRANSFER_GENES)} genes {TRANSFER_GENES}, got {len(genes)}"]
        kept, frozen, lr, dropout = genes
        problems = []
        if not _is_int(kept) or not 1 <= kept <= self.n_layers:
            problems.append(f"rule 'kept layers': keep={kept} is outside [1, {self.n_layers}] ({self.backbone} on {self.input_shape} inputs)")
        if not _is_int(frozen) or not 0 <= frozen:
            problems.append(f"rule 'frozen layers': freeze={frozen} must be an integer >= 0")
        elif _is_int(kept) and frozen > kept:
            problems.append(f"rule 'frozen <= kept': freeze={frozen} exceeds keep={kept}")
        low, high = self.lr_range
        if not isinstance(lr, (int, float)) or not low <= lr <= high:
            problems.append(f"rule 'lr range': lr={lr} is outside [{low}, {high}]")
        low, high = self.dropout_range
        if not isinstance(dropout, (int, float)) or not low <= dropout <= high:
            problems.append(f"rule 'dropout range': drop={dropout} is outside [{low}, {high}]")
        return problems


# ---------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------


def _clip(value, low, high):
    return min(max(value, low), high)


def random_transfer_genome(space: TransferSpace, rng=random) -> list:
    """``[kept, frozen, lr, dropout]``: kept uniform in ``[1, n]``, frozen uniform in ``[0, kept]``,
    lr log-uniform, dropout uniform."""
    kept = rng.randint(1, space.n_layers)
    frozen = rng.randint(0, kept)
    low, high = space.lr_range
    lr = _clip(quantize_log(10 ** rng.uniform(math.log10(low), math.log10(high))), low, high)
    low, high = space.dropout_range
    dropout = _clip(quantize_linear(rng.uniform(low, high)), low, high)
    return [kept, frozen, lr, dropout]


def init_transfer_genome(container, space: TransferSpace, rng=random):
    """A random individual of type ``container``.

    ``toolbox.register("individual", init_transfer_genome, creator.TransferIndividual, space)``
    """
    return container(random_transfer_genome(space, rng))


def cx_two_point(ind1, ind2, space: TransferSpace, rng=random):
    """Two-point crossover: the genes between two cut points swap places.

    Cuts ``1 <= i < j <= 4`` (DEAP's ``cxTwoPoint`` convention), so one of
    the six segments ``[i:j]`` is exchanged. A child whose ``frozen`` then
    exceeds its ``kept`` is repaired to ``frozen = kept``. Every other gene
    comes unchanged from a parent, so children of valid parents are valid.
    """
    size = len(TRANSFER_GENES)
    i = rng.randint(1, size - 1)
    j = rng.randint(i + 1, size)
    a, b = list(ind1), list(ind2)
    a[i:j], b[i:j] = b[i:j], a[i:j]
    for genes in (a, b):
        genes[1] = min(genes[1], genes[0])
    ind1[:], ind2[:] = a, b
    return ind1, ind2


def changeable_genes(genome, space: TransferSpace) -> list[int]:
    """Positions of the genes a mutation can change within ``space``."""
    kept = genome[0]
    positions = []
    if space.n_layers > 1:
        positions.append(0)
    if kept > 0:
        positions.append(1)
    if space.lr_range[0] < space.lr_range[1]:
        positions.append(2)
    if space.dropout_range[0] < space.dropout_range[1]:
        positions.append(3)
    return positions


def _int_step(value, low, high, sigma, rng):
    if low >= high:
        return value
    step = int(round(rng.gauss(0.0, sigma))) or rng.choice((-1, 1))
    new = _clip(value + step, low, high)
    if new == value:  # at a bound: go the other way
        new = _clip(value - step, low, high)
    return new


def _float_step(value, low, high, sigma, rng, log):
    quantize = quantize_log if log else quantize_linear
    for attempt in range(_GAUSS_TRIES + 100):
        if attempt < _GAUSS_TRIES:
            new = 10 ** (math.log10(value) + rng.gauss(0.0, sigma)) if log else value + rng.gauss(0.0, sigma)
        elif log:
            new = 10 ** rng.uniform(math.log10(low), math.log10(high))
        else:
            new = rng.uniform(low, high)
        new = _clip(quantize(new), low, high)
        if new != value:
            return new
    return value


def mut_transfer(individual, space: TransferSpace, rng=random, indpb=0.5):
    """Bounded mutation: each gene changes with probability ``indpb`` (at least one always does).

    ``kept`` and ``frozen`` take a Gaussian integer step (standard deviation
    ``space.layer_sigma * n_layers``, at least one layer) clipped to their
    bounds; ``lr`` a Gaussian step of ``space.log_sigma`` decades, ``dropout``
    one of ``space.dropout_sigma``, clipped to their ranges. ``frozen`` is
    bounded by the new ``kept`` (and cut down to it when ``kept`` falls below).
    In place; returns a 1-tuple. The genome always changes when any gene can.
    """
    positions = changeable_genes(individual, space)
    if not positions:
        return (individual,)
    chosen = [p for p in positions if rng.random() < indpb] or [rng.choice(positions)]
    kept, frozen, lr, dropout = individual
    layer_sigma = max(1.0, space.layer_sigma * space.n_layers)
    if 0 in chosen:
        kept = _int_step(kept, 1, space.n_layers, layer_sigma, rng)
    if 1 in chosen and kept > 0:
        frozen = _int_step(min(frozen, kept), 0, kept, layer_sigma, rng)
    frozen = min(frozen, kept)
    if 2 in chosen:
        lr = _float_step(lr, *space.lr_range, space.log_sigma, rng, log=True)
    if 3 in chosen:
        dropout = _float_step(dropout, *space.dropout_range, space.dropout_sigma, rng, log=False)
    individual[:] = [kept, frozen, lr, dropout]
    return (individual,)


def sel_tournament(individuals, k, tournsize=2, rng=random, fit_attr="fitness"):
    """``k`` tournaments of ``tournsize`` individuals drawn with replacement; each picks its fittest.

    DEAP's ``tools.selTournament`` with the paper's ``k = 2`` by default, and
    an ``rng`` argument. Returns references, not copies.
    """
    individuals = list(individuals)
    if not individuals:
        raise ValueError("tournament selection needs at least one individual, got none")
    chosen = []
    for _ in range(k):
        aspirants = [rng.choice(individuals) for _ in range(tournsize)]
        chosen.append(max(aspirants, key=operator.attrgetter(fit_attr)))
    return chosen
