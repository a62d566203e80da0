"""Hyperparameter genes: their values, ranges, canonical text, random draws, mutation and crossover."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from ..base import GenomeError, GenomeRules, SearchSpaceError, is_int, is_number

__all__ = [
    "GENE_NAMES",
    "LOG_GENES",
    "LINEAR_GENES",
    "CHOICE_GENES",
    "TEXT_KEYS",
    "OPTIMIZER_NAMES",
    "ACTIVATION_NAMES",
    "quantize_log",
    "quantize_linear",
    "HyperParams",
    "HyperSpace",
    "random_hyper",
    "mutable_genes",
    "mutate_hyper",
    "crossover_hyper",
]

#: Every gene, in canonical order.
GENE_NAMES = ("lr", "weight_decay", "batch_size", "optimizer", "dropout", "activation", "kernel_size")


#: Genes drawn and mutated on a log10 scale.
LOG_GENES = ("lr", "weight_decay")


#: Genes drawn and mutated on a linear scale.
LINEAR_GENES = ("dropout",)


#: Genes that take one of a list of values; a mutation picks a different one.
CHOICE_GENES = ("batch_size", "optimizer", "activation", "kernel_size")


#: Short names in the canonical text.
TEXT_KEYS = {
    "lr": "lr",
    "weight_decay": "wd",
    "batch_size": "bs",
    "optimizer": "opt",
    "dropout": "drop",
    "activation": "act",
    "kernel_size": "k",
}


_FROM_KEY = {key: name for name, key in TEXT_KEYS.items()}


#: Optimisers :class:`deap_cnn.training.settings.TrainSettings` accepts (kept equal to ``evaluate.OPTIMIZERS``).
OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "rmsprop")


#: Activations the network builders accept (kept equal to ``network.ACTIVATIONS``).
ACTIVATION_NAMES = ("relu", "elu", "leaky_relu", "gelu", "silu")


#: Significant digits a log-scaled gene keeps (``0.000316``), decimals a linear one keeps (``0.25``).
LOG_DIGITS = 3


LINEAR_DECIMALS = 2


#: Attempts a Gaussian mutation makes to land on a value that differs from the current one.
_GAUSS_TRIES = 20


def quantize_log(value: float) -> float:
    """``value`` to :data:`LOG_DIGITS` significant digits: the value its text names exactly."""
    return float(format(float(value), f".{LOG_DIGITS}g"))


def quantize_linear(value: float) -> float:
    """``value`` to :data:`LINEAR_DECIMALS` decimals: the value its text names exactly."""
    return float(format(float(value), f".{LINEAR_DECIMALS}f")) + 0.0  # + 0.0 turns -0.0 into 0.0


def _format_log(value: float) -> str:
    return format(value, f".{LOG_DIGITS}g")


def _format_linear(value: float) -> str:
    return format(value, "g")  # shortest: the value is already rounded to LINEAR_DECIMALS


@dataclass(frozen=True)
class HyperParams:
    """One value per hyperparameter gene; immutable, so a mutation makes a new one.

    The defaults are what CNN-GA trains and builds with when no gene says
    otherwise (``TrainSettings()`` and ``build_network``'s defaults). Floats
    are rounded on construction (3 significant digits for the log-scaled
    genes, 2 decimals for dropout), so a value always equals the one its
    text names and ``HyperParams.from_string(str(h)) == h``.
    """

    lr: float = 0.05
    weight_decay: float = 5e-4
    batch_size: int = 128
    optimizer: str = "sgd"
    dropout: float = 0.0
    activation: str = "relu"
    kernel_size: int = 3

    def __post_init__(self):
        for name in LOG_GENES:
            value = getattr(self, name)
            if not is_number(value) or value < 0 or (name == "lr" and value == 0):
                bound = "> 0" if name == "lr" else ">= 0"
                raise GenomeError(f"hyperparameter {name} must be a finite number {bound}, got {value!r}")
            object.__setattr__(self, name, quantize_log(value))
        if not is_number(self.dropout) or not 0 <= self.dropout < 1:
            raise GenomeError(f"hyperparameter dropout must be a number in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "dropout", quantize_linear(self.dropout))
        for name in ("batch_size", "kernel_size"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise GenomeError(f"hyperparameter {name} must be an integer >= 1, got {value!r}")
        if self.optimizer not in OPTIMIZER_NAMES:
            raise GenomeError(f"hyperparameter optimizer must be one of {OPTIMIZER_NAMES}, got {self.optimizer!r}")
        if self.activation not in ACTIVATION_NAMES:
            raise GenomeError(f"hyperparameter activation must be one of {ACTIVATION_NAMES}, got {self.activation!r}")

    def __str__(self):
        parts = []
        for name in GENE_NAMES:
            value = getattr(self, name)
            text = (
                _format_log(value)
                if name in LOG_GENES
                else _format_linear(value)
                if name in LINEAR_GENES
                else str(value)
            )
            parts.append(f"{TEXT_KEYS[name]}={text}")
        return ",".join(parts)

    @classmethod
    def from_string(cls, text: str) -> HyperParams:
        """Parse ``lr=0.01,wd=0.0005,bs=128,opt=sgd,drop=0.2,act=relu,k=3`` (every key once, any order)."""
        if not isinstance(text, str) or not text.strip():
            raise GenomeError(f"hyperparameter text must be non-empty, like {str(cls())!r}, got {text!r}")
        values = {}
        for item in text.strip().split(","):
            key, sep, raw = item.strip().partition("=")
            if not sep or key not in _FROM_KEY:
                raise GenomeError(
                    f"cannot parse hyperparameter {item!r} in {text!r}: expected key=value with key in "
                    f"{tuple(_FROM_KEY)}"
                )
            name = _FROM_KEY[key]
            if name in values:
                raise GenomeError(f"hyperparameter {key!r} appears twice in {text!r}")
            try:
                if name in LOG_GENES or name in LINEAR_GENES:
                    values[name] = float(raw)
                elif name in ("batch_size", "kernel_size"):
                    values[name] = int(raw)
                else:
                    values[name] = raw
            except ValueError:
                raise GenomeError(f"cannot parse hyperparameter {key}={raw!r} in {text!r}: not a number") from None
        missing = [TEXT_KEYS[name] for name in GENE_NAMES if name not in values]
        if missing:
            raise GenomeError(f"hyperparameter text {text!r} lacks {missing}; every gene must be named")
        return cls(**values)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in GENE_NAMES}

    def training_overrides(self) -> dict:
        """The :class:`~deap_cnn.training.settings.TrainSettings` fields these genes set."""
        return {
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
        }

    def network_options(self) -> dict:
        """Keyword arguments for an architecture builder (``build_network(..., **options)``)."""
        return {"activation": self.activation, "kernel_size": self.kernel_size, "dropout": self.dropout}


def _pair(value, name):
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{name} must be a (low, high) pair of numbers, got {value!r}") from None
    return low, high


def _choices(value, name, allowed=None, integer=False):
    if isinstance(value, (str, bytes)):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise SearchSpaceError(f"{name} must be a non-empty sequence, got {value!r}") from None
    if not items:
        raise SearchSpaceError(f"{name} must be a non-empty sequence, got {value!r}")
    for item in items:
        if integer and (not is_int(item) or item < 1):
            raise SearchSpaceError(f"{name} must hold positive integers, got {item!r}")
        if allowed is not None and item not in allowed:
            raise SearchSpaceError(f"{name} must be a subset of {allowed}, got {item!r}")
    return tuple(dict.fromkeys(items))  # drop repeats, keep order


@dataclass(frozen=True)
class HyperSpace(GenomeRules):
    """Ranges and choices of the hyperparameter genes, and the mutation's step sizes.

    Parameters
    ----------
    lr_range, weight_decay_range:
        ``(low, high)``, ``0 < low <= high``, drawn log-uniformly; each bound
        must be a 3-significant-digit number (``1e-4``, ``0.05``), so that
        rounding a gene never leaves the range.
    batch_sizes, optimizers, activations, kernel_sizes:
        The choices (a single choice fixes the gene).
    dropout_range:
        ``(low, high)`` with ``0 <= low <= high < 1``, 2 decimals, drawn uniformly.
    log_sigma:
        Standard deviation, in decades, of a log-scaled gene's mutation.
    dropout_sigma:
        Standard deviation of the dropout gene's mutation.
    """

    genome_class = HyperParams
    genome_label = "hyperparameters"

    lr_range: tuple = (1e-4, 1e-1)
    weight_decay_range: tuple = (1e-6, 1e-2)
    batch_sizes: tuple = (32, 64, 128, 256)
    optimizers: tuple = OPTIMIZER_NAMES
    dropout_range: tuple = (0.0, 0.5)
    activations: tuple = ("relu", "elu", "leaky_relu")
    kernel_sizes: tuple = (3, 5)
    log_sigma: float = 0.3
    dropout_sigma: float = 0.1

    def __post_init__(self):
        for name in ("lr_range", "weight_decay_range"):
            low, high = _pair(getattr(self, name), name)
            if not (0 < low <= high and math.isfinite(high)):
                raise SearchSpaceError(
                    f"{name} must satisfy 0 < low <= high (a log scale), got {getattr(self, name)!r}"
                )
            if quantize_log(low) != low or quantize_log(high) != high:
                raise SearchSpaceError(
                    f"{name} bounds must have at most {LOG_DIGITS} significant digits (genes are rounded to "
                    f"that), got {getattr(self, name)!r}; e.g. ({quantize_log(low)}, {quantize_log(high)})"
                )
            object.__setattr__(self, name, (low, high))
        low, high = _pair(self.dropout_range, "dropout_range")
        if not 0 <= low <= high < 1:
            raise SearchSpaceError(f"dropout_range must satisfy 0 <= low <= high < 1, got {self.dropout_range!r}")
        if quantize_linear(low) != low or quantize_linear(high) != high:
            raise SearchSpaceError(
                f"dropout_range bounds must have at most {LINEAR_DECIMALS} decimals, got {self.dropout_range!r}"
            )
        object.__setattr__(self, "dropout_range", (low, high))
        object.__setattr__(self, "batch_sizes", _choices(self.batch_sizes, "batch_sizes", integer=True))
        object.__setattr__(self, "kernel_sizes", _choices(self.kernel_sizes, "kernel_sizes", integer=True))
        object.__setattr__(self, "optimizers", _choices(self.optimizers, "optimizers", OPTIMIZER_NAMES))
        object.__setattr__(self, "activations", _choices(self.activations, "activations", ACTIVATION_NAMES))
        for name in ("log_sigma", "dropout_sigma"):
            value = getattr(self, name)
            if not is_number(value) or value <= 0:
                raise SearchSpaceError(f"{name} must be a positive number, got {value!r}")

    def bounds(self, gene: str) -> tuple:
        """``(low, high)`` of a log-scaled or linear gene."""
        return {"lr": self.lr_range, "weight_decay": self.weight_decay_range, "dropout": self.dropout_range}[gene]

    def choices(self, gene: str) -> tuple:
        """The values a choice gene may take."""
        return {
            "batch_size": self.batch_sizes,
            "optimizer": self.optimizers,
            "activation": self.activations,
            "kernel_size": self.kernel_sizes,
        }[gene]

    def violations(self, hyper) -> list[str]:
        """Every rule ``hyper`` breaks, each naming the gene, its value and what is allowed."""
        if not isinstance(hyper, HyperParams):
            return [f"rule 'hyper genes': expected HyperParams, got {hyper!r}"]
        problems = []
        for gene in LOG_GENES + LINEAR_GENES:
            low, high = self.bounds(gene)
            value = getattr(hyper, gene)
            if not low <= value <= high:
                problems.append(f"rule '{gene} range': {TEXT_KEYS[gene]}={value} is outside [{low}, {high}]")
        for gene in CHOICE_GENES:
            value = getattr(hyper, gene)
            if value not in self.choices(gene):
                problems.append(f"rule '{gene} choices': {TEXT_KEYS[gene]}={value} is not one of {self.choices(gene)}")
        return problems


def _log_uniform(low, high, rng):
    return 10 ** rng.uniform(math.log10(low), math.log10(high))


def random_hyper(space: HyperSpace, rng=random) -> HyperParams:
    """Genes drawn from ``space``: log-uniform, uniform, or uniform over the choices."""
    values = {}
    for gene in LOG_GENES:
        low, high = space.bounds(gene)
        values[gene] = min(max(quantize_log(_log_uniform(low, high, rng)), low), high)
    low, high = space.dropout_range
    values["dropout"] = min(max(quantize_linear(rng.uniform(low, high)), low), high)
    for gene in CHOICE_GENES:
        values[gene] = rng.choice(space.choices(gene))
    return HyperParams(**values)


def mutable_genes(hyper: HyperParams, space: HyperSpace) -> list[str]:
    """Genes a mutation can change within ``space`` (a range wider than a point, or a second choice)."""
    names = []
    for gene in GENE_NAMES:
        if gene in CHOICE_GENES:
            if any(value != getattr(hyper, gene) for value in space.choices(gene)):
                names.append(gene)
        else:
            low, high = space.bounds(gene)
            if low < high:
                names.append(gene)
    return names


def _step(value, low, high, sigma, rng, log):
    """A Gaussian step of ``value`` (on log10 when ``log``), rounded and clipped; differs from ``value``."""
    quantize = quantize_log if log else quantize_linear
    for attempt in range(_GAUSS_TRIES + 100):
        if attempt < _GAUSS_TRIES:
            if log:
                new = 10 ** (math.log10(value) + rng.gauss(0.0, sigma)) if value > 0 else _log_uniform(low, high, rng)
            else:
                new = value + rng.gauss(0.0, sigma)
        else:  # the Gaussian keeps landing on the value (a narrow range): draw across the range instead
            new = _log_uniform(low, high, rng) if log else rng.uniform(low, high)
        new = min(max(quantize(new), low), high)
        if new != value:
            return new
    return value


def mutate_hyper(hyper: HyperParams, space: HyperSpace, rng=random, gene: str | None = None) -> HyperParams:
    """``hyper`` with one gene changed: ``gene``, or one drawn among :func:`mutable_genes`.

    A log-scaled gene takes a Gaussian step of ``space.log_sigma`` decades,
    dropout one of ``space.dropout_sigma``, both rounded and clipped to the
    bounds; a choice gene is resampled among the *other* choices. The
    result always differs from ``hyper`` when any gene can change.
    """
    candidates = mutable_genes(hyper, space)
    if gene is None:
        if not candidates:
            return hyper
        gene = rng.choice(candidates)
    elif gene not in GENE_NAMES:
        raise ValueError(f"gene must be one of {GENE_NAMES}, got {gene!r}")
    value = getattr(hyper, gene)
    if gene in CHOICE_GENES:
        others = [choice for choice in space.choices(gene) if choice != value]
        if not others:
            return hyper
        return replace(hyper, **{gene: rng.choice(others)})
    low, high = space.bounds(gene)
    if low == high:
        return replace(hyper, **{gene: low})
    log = gene in LOG_GENES
    sigma = space.log_sigma if log else space.dropout_sigma
    return replace(hyper, **{gene: _step(value, low, high, sigma, rng, log)})


def crossover_hyper(first: HyperParams, second: HyperParams, rng=random, indpb: float = 0.5):
    """Uniform crossover: each gene is swapped between the two with probability ``indpb``."""
    a, b = first.as_dict(), second.as_dict()
    for gene in GENE_NAMES:
        if rng.random() < indpb:
            a[gene], b[gene] = b[gene], a[gene]
    return HyperParams(**a), HyperParams(**b)
