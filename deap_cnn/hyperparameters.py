"""Hyperparameter genes that ride along with an architecture genome and evolve with it.

Seven genes, after the Hyperopt CIFAR-100 search space: the learning rate
and the weight decay (both on a log scale), the batch size, the optimiser,
a dropout rate before the classifier, the activation and the convolution
kernel size. The first four reach training through
``genome.training_overrides()`` (which :meth:`deap_cnn.evaluate.Evaluator.settings_for`
reads); the last three reach the network through a builder that passes
``genome.hyper.network_options()`` on (:mod:`deap_cnn.hyper_network`).

The genes attach to *any* architecture family whose genome is a class with a
``from_string`` parser: :func:`hyper_genome_class` makes a subclass of the
architecture's genome class that also carries a ``hyper`` attribute (a
:class:`HyperParams`). An individual of that subclass *is* an architecture
genome, so the family's own space and operators work on it unchanged, and
its canonical text joins both parts::

    S64-Pmax-S128|lr=0.01,wd=0.0005,bs=128,opt=sgd,drop=0.2,act=relu,k=3

:class:`HyperSearchSpace` checks both parts; :func:`cx_arch_hyper` and
:func:`mut_arch_hyper` delegate to the family's operators and to this
module's (:func:`cx_hyper`: uniform crossover; :func:`mut_hyper`: one gene,
Gaussian on log10 for the log-scaled genes, clipped to the bounds, a choice
gene resampled to a different value). Like the rest of the genome side,
this module imports no torch.

For CNN-GA the class is ready made (:class:`HyperCnnGenome`)::

    creator.create("HyperIndividual", HyperCnnGenome, fitness=creator.FitnessMax)
    space = HyperSearchSpace(SearchSpace(input_shape=(1, 28, 28)), HyperSpace())
    toolbox.register("individual", init_arch_hyper, creator.HyperIndividual, space)
    toolbox.register("mate", cx_arch_hyper, space=space, arch_mate=cx_one_point)
    toolbox.register("mutate", mut_arch_hyper, space=space, arch_mutate=mut_cnn_ga)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from .genome import Genome, GenomeError
from .operators import random_genome
from .space import GenomeRules, SearchSpaceError, _is_int, _is_number

__all__ = [
    "GENE_NAMES",
    "LOG_GENES",
    "LINEAR_GENES",
    "CHOICE_GENES",
    "TEXT_KEYS",
    "OPTIMIZER_NAMES",
    "ACTIVATION_NAMES",
    "HyperParams",
    "HyperSpace",
    "HyperGenomeMixin",
    "HyperCnnGenome",
    "HyperSearchSpace",
    "hyper_genome_class",
    "quantize_log",
    "quantize_linear",
    "random_hyper",
    "crossover_hyper",
    "mutate_hyper",
    "mutable_genes",
    "init_arch_hyper",
    "cx_hyper",
    "mut_hyper",
    "cx_arch_hyper",
    "mut_arch_hyper",
    "split_text",
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

#: Optimisers :class:`deap_cnn.evaluate.TrainSettings` accepts (kept equal to ``evaluate.OPTIMIZERS``).
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


# ---------------------------------------------------------------------------
# The genes
# ---------------------------------------------------------------------------


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
            if not _is_number(value) or value < 0 or (name == "lr" and value == 0):
                bound = "> 0" if name == "lr" else ">= 0"
                raise GenomeError(f"hyperparameter {name} must be a finite number {bound}, got {value!r}")
            object.__setattr__(self, name, quantize_log(value))
        if not _is_number(self.dropout) or not 0 <= self.dropout < 1:
            raise GenomeError(f"hyperparameter dropout must be a number in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "dropout", quantize_linear(self.dropout))
        for name in ("batch_size", "kernel_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise GenomeError(f"hyperparameter {name} must be an integer >= 1, got {value!r}")
        if self.optimizer not in OPTIMIZER_NAMES:
            raise GenomeError(f"hyperparameter optimizer must be one of {OPTIMIZER_NAMES}, got {self.optimizer!r}")
        if self.activation not in ACTIVATION_NAMES:
            raise GenomeError(f"hyperparameter activation must be one of {ACTIVATION_NAMES}, got {self.activation!r}")

    def __str__(self):
        parts = []
        for name in GENE_NAMES:
            value = getattr(self, name)
            text = _format_log(value) if name in LOG_GENES else _format_linear(value) if name in LINEAR_GENES else str(value)
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
        """The :class:`~deap_cnn.evaluate.TrainSettings` fields these genes set."""
        return {
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
        }

    def network_options(self) -> dict:
        """Keyword arguments for an architecture builder (``build_network(..., **options)``)."""
        return {"activation": self.activation, "kernel_size": self.kernel_size, "dropout": self.dropout}


# ---------------------------------------------------------------------------
# The ranges
# ---------------------------------------------------------------------------


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
        if integer and (not _is_int(item) or item < 1):
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
                raise SearchSpaceError(f"{name} must satisfy 0 < low <= high (a log scale), got {getattr(self, name)!r}")
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
            if not _is_number(value) or value <= 0:
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


# ---------------------------------------------------------------------------
# Operators on HyperParams values
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Attaching the genes to an architecture genome
# ---------------------------------------------------------------------------


def split_text(text: str) -> tuple[str, str]:
    """``(architecture text, hyperparameter text)`` of a combined genome's text."""
    if not isinstance(text, str) or "|" not in text:
        raise GenomeError(
            f"a genome with hyperparameter genes reads '<architecture>|<hyperparameters>', e.g. "
            f"'S64-Pmax-S128|{HyperParams()}', got {text!r}"
        )
    arch, _, hyper = text.strip().rpartition("|")
    return arch, hyper


class HyperGenomeMixin:
    """What :func:`hyper_genome_class` adds to an architecture genome class.

    ``hyper`` holds a :class:`HyperParams`. Equality needs an equal architecture
    *and* equal hyper genes (DEAP's hall of fame tells individuals apart with
    ``==``). Copies and pickles keep ``hyper``: it lives in the instance
    dictionary, which ``copy.deepcopy`` (DEAP's ``toolbox.clone``) and
    ``pickle`` both carry.
    """

    _arch_class = None  # set by hyper_genome_class
    _arch_parse = None

    def __init__(self, genes=(), hyper=None, **arch_options):
        super().__init__(genes, **arch_options)
        if hyper is None:
            hyper = HyperParams()
        elif isinstance(hyper, str):
            hyper = HyperParams.from_string(hyper)
        elif isinstance(hyper, dict):
            hyper = HyperParams(**hyper)
        elif not isinstance(hyper, HyperParams):
            raise GenomeError(f"hyper must be HyperParams, its text or a dict of genes, got {hyper!r}")
        self.hyper = hyper

    @classmethod
    def from_string(cls, text: str):
        """Parse ``'<architecture text>|<hyperparameter text>'``."""
        arch_text, hyper_text = split_text(text)
        return cls._from_parts(cls._arch_parse(arch_text), HyperParams.from_string(hyper_text))

    @classmethod
    def _from_parts(cls, arch, hyper):
        return cls(arch, hyper)

    @property
    def arch_text(self) -> str:
        """The architecture's own canonical text."""
        return super().__str__()

    def __str__(self):
        return f"{super().__str__()}|{self.hyper}"

    def __repr__(self):
        return f"{type(self).__name__}.from_string({str(self)!r})"

    def __eq__(self, other):
        same = super().__eq__(other)
        if same is NotImplemented or not same:
            return same
        return getattr(other, "hyper", None) == self.hyper

    def __ne__(self, other):
        same = self.__eq__(other)
        return same if same is NotImplemented else not same

    __hash__ = None

    def training_overrides(self) -> dict:
        """Training settings for the evaluator: the architecture family's own, then the hyper genes'.

        Where both set a field (DEvol's optimiser gene), the hyper gene wins.
        """
        own = getattr(super(), "training_overrides", None)
        overrides = dict(own()) if own is not None else {}
        overrides.update(self.hyper.training_overrides())
        return overrides

    def network_options(self) -> dict:
        """Network options from the genes (a hyper builder passes them on)."""
        return self.hyper.network_options()


def hyper_genome_class(arch_class, name=None, parse=None, module=None):
    """A subclass of ``arch_class`` whose instances also carry hyperparameter genes.

    Parameters
    ----------
    arch_class:
        The architecture family's genome class (e.g. :class:`deap_cnn.Genome`);
        its constructor takes the genes as first argument.
    name:
        The new class's name (default ``"Hyper" + arch_class.__name__``).
        Pickling (checkpoints, SCOOP) finds the class by ``module`` and
        ``name``: bind the result to that name at the top level of that module.
    parse:
        ``parse(text) -> architecture genome`` (default ``arch_class.from_string``).
    module:
        The module the class is bound in (default: this one).
    """
    name = name or f"Hyper{arch_class.__name__}"
    parser = parse if parse is not None else arch_class.from_string
    namespace = {
        "__module__": module or __name__,
        "__qualname__": name,
        "__doc__": f"A {arch_class.__name__} with hyperparameter genes in ``hyper``.",
        "_arch_class": arch_class,
        "_arch_parse": staticmethod(parser),
    }
    return type(name, (HyperGenomeMixin, arch_class), namespace)


#: CNN-GA's genome with hyperparameter genes: ``creator.create("I", HyperCnnGenome, fitness=...)``.
HyperCnnGenome = hyper_genome_class(Genome, name="HyperCnnGenome")


# ---------------------------------------------------------------------------
# The combined space and operators
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HyperSearchSpace(GenomeRules):
    """An architecture family's space and a :class:`HyperSpace`, checked together.

    Parameters
    ----------
    arch:
        The architecture family's space (``SearchSpace`` for CNN-GA); it must
        offer ``validate`` (and ideally ``violations``), ``input_shape`` and ``n_classes``.
    hyper:
        The :class:`HyperSpace`.
    genome_class:
        The class text parses into (default :class:`HyperCnnGenome`); a class
        from :func:`hyper_genome_class`.

    ``input_shape`` and ``n_classes`` are the architecture space's, so an
    :class:`~deap_cnn.evaluate.Evaluator` takes this space as it is.
    """

    arch: object
    hyper: HyperSpace = HyperSpace()
    genome_class: type = HyperCnnGenome

    @property
    def network_builder(self):
        """CNN-GA with hyper genes has a default builder; other families pass ``HyperBuilder(their builder)``."""
        if getattr(self.arch, "network_builder", None) == "deap_cnn.network:build_network":
            return "deap_cnn.hyper_network:build_hyper_network"
        return None

    def __post_init__(self):
        if not isinstance(self.hyper, HyperSpace):
            raise SearchSpaceError(f"hyper must be a HyperSpace, got {self.hyper!r}")
        if not (isinstance(self.genome_class, type) and issubclass(self.genome_class, HyperGenomeMixin)):
            raise SearchSpaceError(
                f"genome_class must be a class made by hyper_genome_class(), got {self.genome_class!r}"
            )
        for attribute in ("validate", "input_shape", "n_classes"):
            if not hasattr(self.arch, attribute):
                raise SearchSpaceError(f"the architecture space {self.arch!r} has no {attribute!r}")

    @property
    def input_shape(self) -> tuple:
        return self.arch.input_shape

    @property
    def n_classes(self) -> int:
        return self.arch.n_classes

    @property
    def in_channels(self) -> int:
        return self.arch.input_shape[0]

    def _arch_violations(self, genome) -> list[str]:
        violations = getattr(self.arch, "violations", None)
        if violations is not None:
            return list(violations(genome))
        try:
            self.arch.validate(genome)
        except ValueError as error:
            return [str(error)]
        return []

    def violations(self, genome) -> list[str]:
        """Every rule the genome breaks, architecture rules first."""
        hyper = getattr(genome, "hyper", None)
        problems = self._arch_violations(genome)
        if hyper is None:
            problems.append("rule 'hyper genes': the genome carries no hyperparameter genes (no .hyper)")
        else:
            problems += self.hyper.violations(hyper)
        return problems


def init_arch_hyper(container, space: HyperSearchSpace, arch_init=random_genome, rng=random):
    """A random individual of type ``container``: ``arch_init(space.arch, rng)`` genes plus random hyper genes.

    ``arch_init`` is the family's random-genes function (CNN-GA's
    :func:`~deap_cnn.random_genome` by default).
    """
    genes = arch_init(space.arch, rng)
    return container(genes, random_hyper(space.hyper, rng))


def cx_hyper(ind1, ind2, space=None, rng=random, indpb=0.5):
    """Uniform crossover of the two individuals' hyper genes, in place; the architectures stay."""
    ind1.hyper, ind2.hyper = crossover_hyper(ind1.hyper, ind2.hyper, rng, indpb)
    return ind1, ind2


def mut_hyper(individual, space, rng=random):
    """Mutate one of the individual's hyper genes in place (:func:`mutate_hyper`).

    ``space`` is a :class:`HyperSpace` or a :class:`HyperSearchSpace`.
    """
    hyper_space = space.hyper if isinstance(space, HyperSearchSpace) else space
    individual.hyper = mutate_hyper(individual.hyper, hyper_space, rng)
    return (individual,)


def cx_arch_hyper(ind1, ind2, space: HyperSearchSpace, arch_mate, rng=random, indpb=0.5):
    """The family's crossover on the architectures, then uniform crossover of the hyper genes.

    ``arch_mate(ind1, ind2, space=space.arch, rng=rng)`` is the family's
    operator (CNN-GA: :func:`~deap_cnn.cx_one_point`). In place; returns the pair.
    """
    arch_mate(ind1, ind2, space=space.arch, rng=rng)
    return cx_hyper(ind1, ind2, space, rng, indpb)


def mut_arch_hyper(individual, space: HyperSearchSpace, arch_mutate, rng=random, hyper_prob=0.5):
    """Mutate the architecture (the family's ``arch_mutate``) or one hyper gene.

    With probability ``hyper_prob`` a hyper gene changes (:func:`mutate_hyper`),
    otherwise ``arch_mutate(individual, space=space.arch, rng=rng)`` runs
    (CNN-GA: :func:`~deap_cnn.mut_cnn_ga`). When no hyper gene can change
    the architecture mutates, and the other way round when the family's
    mutation leaves the genome as it was. In place; returns a 1-tuple.
    """
    if not 0 <= hyper_prob <= 1:
        raise ValueError(f"hyper_prob must be in [0, 1], got {hyper_prob!r}")
    can_hyper = bool(mutable_genes(individual.hyper, space.hyper))
    if can_hyper and rng.random() < hyper_prob:
        return mut_hyper(individual, space, rng)
    before = list(individual)
    arch_mutate(individual, space=space.arch, rng=rng)
    if list(individual) == before and can_hyper:
        mut_hyper(individual, space, rng)
    return (individual,)
