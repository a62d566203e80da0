"""The DEvol family: a fixed-width genome of convolutional layers, dense layers and an optimiser.

After DEvol (Joe Davison's "Deep Neural Network Evolution" for Keras): a
genome holds up to ``N`` convolutional layers, each with an on/off gene,
feature maps, activation, dropout, batch normalisation and 2x2 max pooling;
up to ``M`` hidden dense layers, each with an on/off gene, units,
activation, dropout and batch normalisation; and one optimiser gene. The
width never changes: a layer that is off keeps its genes, silent, until a
mutation or a crossover switches it on again.

A :class:`DevolGenome` is a flat :class:`list` of :class:`DevolGene` values
(one per layer property, in a fixed order), so DEAP builds an individual
type on it (``creator.create("Individual", DevolGenome, fitness=...)``) and
crossover cuts anywhere along it. Its canonical text, one token per layer::

    C+32,relu,0.25,bn,mp|C-16,sigmoid,0.0,-,-|D+128,relu,0.5,-|adam

(``C``/``D`` a convolutional or dense layer, ``+``/``-`` on or off, feature
maps or units, activation, dropout, ``bn`` or ``-``, ``mp`` or ``-``, then
the optimiser) parses back with :meth:`DevolGenome.from_string` and keys the
evaluation cache and the results store.

:class:`DevolSpace` is DEvol's ``GenomeHandler``: the layer counts, the
allowed values and which options are allowed. Its operators follow DEAP's
conventions (in place, tuples returned, fitness left alone, ``rng``) and
never produce a genome whose poolings would shrink the maps below 1x1.
:class:`DevolFitness` is DEvol's fitness hook. Nothing here imports torch;
the network builder is :func:`deap_cnn.devol_network.build_devol_network`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import namedtuple
from dataclasses import dataclass

from .genome import GenomeError
from .space import GenomeRules, SearchSpaceError, _is_int, max_pool_units_for

__all__ = [
    "ACTIVATIONS",
    "OPTIMIZER_CHOICES",
    "CONV_FIELDS",
    "DENSE_FIELDS",
    "FIELDS",
    "DevolGene",
    "DevolGenome",
    "ConvLayer",
    "DenseLayer",
    "DevolSpace",
    "random_devol_genes",
    "init_devol",
    "cx_devol",
    "mut_devol",
    "DevolFitness",
    "fitness_accuracy",
    "fitness_neg_loss",
    "FAILED_LOSS",
]

#: Activation names both families know (the network builders map each to a torch module).
ACTIVATIONS = (
    "relu",
    "elu",
    "selu",
    "leaky_relu",
    "gelu",
    "tanh",
    "sigmoid",
    "hard_sigmoid",
    "softplus",
    "softsign",
    "linear",
)

#: Optimisers the evaluator trains with (``deap_cnn.evaluate.OPTIMIZERS``, repeated here to stay torch-free).
OPTIMIZER_CHOICES = ("sgd", "adam", "adamw", "rmsprop")

#: Genes of one convolutional layer, in genome order.
CONV_FIELDS = ("conv_active", "filters", "conv_activation", "conv_dropout", "conv_batchnorm", "max_pooling")
#: Genes of one dense layer, in genome order.
DENSE_FIELDS = ("dense_active", "units", "dense_activation", "dense_dropout", "dense_batchnorm")
#: Every gene name; the optimiser gene closes a genome.
FIELDS = CONV_FIELDS + DENSE_FIELDS + ("optimizer",)

_BOOL_FIELDS = {"conv_active", "conv_batchnorm", "max_pooling", "dense_active", "dense_batchnorm"}
_SIZE_FIELDS = {"filters", "units"}
_ACTIVATION_FIELDS = {"conv_activation", "dense_activation"}
_DROPOUT_FIELDS = {"conv_dropout", "dense_dropout"}

#: A layer's genes by name: what :attr:`DevolGenome.conv_layers` and ``dense_layers`` list.
ConvLayer = namedtuple("ConvLayer", "active filters activation dropout batchnorm max_pooling")
DenseLayer = namedtuple("DenseLayer", "active units activation dropout batchnorm")


def _is_size(value) -> bool:
    return _is_int(value) and value >= 1


def _is_dropout(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1


@dataclass(frozen=True)
class DevolGene:
    """One property of one layer (or the optimiser): ``field`` names it, ``value`` is its allele."""

    field: str
    value: object

    def __post_init__(self):
        field, value = self.field, self.value
        if field not in FIELDS:
            raise GenomeError(f"gene field must be one of {FIELDS}, got {field!r}")
        if field in _BOOL_FIELDS:
            ok = isinstance(value, bool)
        elif field in _SIZE_FIELDS:
            ok = _is_size(value)
        elif field in _ACTIVATION_FIELDS:
            ok = value in ACTIVATIONS
        elif field in _DROPOUT_FIELDS:
            ok = _is_dropout(value)
            if ok:
                object.__setattr__(self, "value", float(value))
        else:
            ok = value in OPTIMIZER_CHOICES
        if not ok:
            raise GenomeError(f"gene {field!r} cannot take {value!r}: {_expected(field)}")


def _expected(field) -> str:
    if field in _BOOL_FIELDS:
        return "expected True or False"
    if field in _SIZE_FIELDS:
        return "expected a positive integer"
    if field in _ACTIVATION_FIELDS:
        return f"expected one of {ACTIVATIONS}"
    if field in _DROPOUT_FIELDS:
        return "expected a number in [0, 1)"
    return f"expected one of {OPTIMIZER_CHOICES}"


_CONV_TOKEN = re.compile(
    r"^C(?P<on>[+-])(?P<size>[1-9][0-9]*),(?P<act>[a-z_]+),(?P<drop>[0-9.e-]+),(?P<bn>bn|-),(?P<mp>mp|-)$"
)
_DENSE_TOKEN = re.compile(r"^D(?P<on>[+-])(?P<size>[1-9][0-9]*),(?P<act>[a-z_]+),(?P<drop>[0-9.e-]+),(?P<bn>bn|-)$")


def _layer_genes(kind, match, token):
    fields = CONV_FIELDS if kind == "C" else DENSE_FIELDS
    try:
        dropout = float(match["drop"])
    except ValueError:
        raise GenomeError(f"cannot parse layer {token!r}: dropout {match['drop']!r} is not a number") from None
    values = [match["on"] == "+", int(match["size"]), match["act"], dropout, match["bn"] == "bn"]
    if kind == "C":
        values.append(match["mp"] == "mp")
    try:
        return [DevolGene(field, value) for field, value in zip(fields, values)]
    except GenomeError as error:
        raise GenomeError(f"cannot parse layer {token!r}: {error}") from None


def _flag(value, text) -> str:
    return text if value else "-"


class DevolGenome(list):
    """A fixed-width sequence of :class:`DevolGene`: convolutional layers, dense layers, optimiser.

    ``str(genome)`` is the canonical text and :meth:`from_string` reads it
    back: ``DevolGenome.from_string(str(g)) == g``. Silent genes (of layers
    that are off) are part of the text, so the text names the genome, not
    only the network; :meth:`architecture` names the network alone.

    The optimiser gene reaches the evaluator through
    :meth:`training_overrides`, with a learning rate from
    :attr:`learning_rates` (Keras-like defaults per optimiser, as DEvol
    trained with Keras's defaults). Override it on your own type, e.g.
    ``creator.create("Individual", DevolGenome, fitness=..., learning_rates={...})``,
    or set it to ``None`` to train every optimiser at ``TrainSettings.lr``.
    """

    __slots__ = ()

    #: Learning rate per optimiser gene value; an optimiser missing here trains at ``TrainSettings.lr``.
    learning_rates = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}

    def __init__(self, genes=()):
        genes = list(genes)
        for gene in genes:
            if not isinstance(gene, DevolGene):
                raise GenomeError(f"a DEvol genome holds DevolGene values, got {gene!r}")
        super().__init__(genes)

    @classmethod
    def from_string(cls, text: str):
        """Parse the canonical form, e.g. ``"C+32,relu,0.25,bn,mp|D+64,relu,0.0,-|adam"``."""
        if not isinstance(text, str) or not text.strip():
            raise GenomeError(f"a DEvol genome string must be non-empty, like 'C+32,relu,0.0,-,mp|adam', got {text!r}")
        *layers, optimizer = text.strip().split("|")
        genes, seen_dense = [], False
        for token in layers:
            conv, dense = _CONV_TOKEN.match(token), _DENSE_TOKEN.match(token)
            if conv is not None and not seen_dense:
                genes += _layer_genes("C", conv, token)
            elif dense is not None:
                seen_dense = True
                genes += _layer_genes("D", dense, token)
            elif conv is not None:
                raise GenomeError(f"cannot parse {text!r}: convolutional layer {token!r} follows a dense layer")
            else:
                raise GenomeError(
                    f"cannot parse layer {token!r}: expected 'C<+|-><maps>,<activation>,<dropout>,<bn|->,<mp|->' "
                    "(e.g. C+32,relu,0.25,bn,mp) or 'D<+|-><units>,<activation>,<dropout>,<bn|->' "
                    "(e.g. D-64,tanh,0.0,-)"
                )
        if optimizer not in OPTIMIZER_CHOICES:
            raise GenomeError(
                f"cannot parse {text!r}: the last token must be the optimiser, one of {OPTIMIZER_CHOICES}, "
                f"got {optimizer!r}"
            )
        return cls(genes + [DevolGene("optimizer", optimizer)])

    @classmethod
    def build(cls, conv_layers=(), dense_layers=(), optimizer="adam"):
        """A genome from layer tuples (:class:`ConvLayer`, :class:`DenseLayer` or plain tuples in their order)."""
        genes = [DevolGene(f, v) for layer in conv_layers for f, v in zip(CONV_FIELDS, ConvLayer(*layer))]
        genes += [DevolGene(f, v) for layer in dense_layers for f, v in zip(DENSE_FIELDS, DenseLayer(*layer))]
        return cls(genes + [DevolGene("optimizer", optimizer)])

    def _groups(self):
        """``(kind, values)`` per layer and the optimiser, read from the gene names."""
        groups = []
        for gene in self:
            if gene.field in ("conv_active", "dense_active", "optimizer"):
                groups.append((gene.field.split("_")[0], []))
            elif not groups:
                raise GenomeError(f"genome starts with gene {gene.field!r}, not with a layer's on/off gene")
            groups[-1][1].append(gene.value)
        return groups

    @property
    def conv_layers(self) -> list:
        return [ConvLayer(*values) for kind, values in self._groups() if kind == "conv"]

    @property
    def dense_layers(self) -> list:
        return [DenseLayer(*values) for kind, values in self._groups() if kind == "dense"]

    @property
    def optimizer(self):
        return next((gene.value for gene in reversed(self) if gene.field == "optimizer"), None)

    @property
    def layout(self) -> tuple:
        return tuple(gene.field for gene in self)

    @property
    def pool_count(self) -> int:
        """Poolings the network applies: switched-on convolutional layers with max pooling."""
        return sum(layer.active and layer.max_pooling for layer in self.conv_layers)

    def __str__(self):
        tokens = []
        for kind, values in self._groups():
            if kind == "optimizer":
                tokens.append(str(values[0]))
                continue
            active, size, activation, dropout, batchnorm, *pool = values
            text = f"{'C' if kind == 'conv' else 'D'}{'+' if active else '-'}{size},{activation},{float(dropout)!r},"
            text += _flag(batchnorm, "bn") + ("," + _flag(pool[0], "mp") if kind == "conv" else "")
            tokens.append(text)
        return "|".join(tokens)

    def __repr__(self):
        return f"{type(self).__name__}.from_string({str(self)!r})"

    def architecture(self) -> str:
        """The network alone: switched-on layers (without their on/off marks) and the optimiser.

        Two genomes that differ only in silent genes share it.
        """
        tokens = [token[0] + token[2:] for token in str(self).split("|") if token[1:2] == "+"]
        return "|".join(tokens + [str(self.optimizer)])

    def training_overrides(self) -> dict:
        """``TrainSettings`` fields this genome sets: its optimiser (and that optimiser's learning rate)."""
        overrides = {"optimizer": self.optimizer}
        rates = self.learning_rates
        if rates is not None and self.optimizer in rates:
            overrides["lr"] = rates[self.optimizer]
        return overrides


def _as_choices(value, name, check, message):
    if isinstance(value, (str, bytes)):
        raise SearchSpaceError(f"{name} must be a sequence, got {value!r}")
    try:
        values = tuple(value)
    except TypeError:
        raise SearchSpaceError(f"{name} must be a sequence, got {value!r}") from None
    if not values or not all(check(v) for v in values):
        raise SearchSpaceError(f"{name} must be a non-empty sequence of {message}, got {value!r}")
    return tuple(dict.fromkeys(values))  # duplicates dropped, order kept


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
    network_builder = "deap_cnn.devol_network:build_devol_network"

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
        try:
            shape = tuple(self.input_shape)
        except TypeError:
            shape = ()
        if len(shape) != 3 or not all(_is_int(v) and v >= 1 for v in shape):
            raise SearchSpaceError(
                f"input_shape must be (channels, height, width) of positive integers, got {self.input_shape!r}"
            )
        object.__setattr__(self, "input_shape", shape)
        if not _is_int(self.n_classes) or self.n_classes < 2:
            raise SearchSpaceError(f"n_classes must be an integer >= 2, got {self.n_classes!r}")
        for name in ("max_conv_layers", "max_dense_layers"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 0:
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
        elif not _is_int(self.max_pool_layers) or self.max_pool_layers < 0:
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
        for position, (gene, field) in enumerate(zip(genes, layout)):
            if gene.field != field:
                problems.append(
                    f"rule 'layout': position {position} must be {self.describe(position)}, got {gene.field!r}"
                )
            elif gene.value not in self.choices(field):
                problems.append(
                    f"rule 'allowed values': {self.describe(position)} is {gene.value!r}, "
                    f"allowed {self.choices(field)}"
                )
        if not problems:
            pools = DevolGenome(genes).pool_count
            if pools > self.max_pool_layers:
                problems.append(
                    f"rule 'pooling depth': {pools} switched-on layers pool, at most {self.max_pool_layers} "
                    f"keep {self.input_shape[1]}x{self.input_shape[2]} maps at 1x1 or more"
                )
        return problems


# ---------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------


def _pool_count(genes) -> int:
    count, active = 0, False
    for gene in genes:
        if gene.field == "conv_active":
            active = gene.value
        elif gene.field == "max_pooling":
            count += active and gene.value
    return count


def random_devol_genes(space: DevolSpace, rng=random) -> list:
    """A list of genes valid in ``space``: every gene uniform over its choices.

    Where that draws more switched-on poolings than the input survives,
    pooling is turned off in randomly chosen layers until it does.
    """
    genes = [DevolGene(field, rng.choice(space.choices(field))) for field in space.layout]
    excess = _pool_count(genes) - space.max_pool_layers
    if excess > 0:
        width, offset = len(CONV_FIELDS), CONV_FIELDS.index("max_pooling")
        pooling = [
            n * width + offset
            for n in range(space.max_conv_layers)
            if genes[n * width].value and genes[n * width + offset].value
        ]
        for position in rng.sample(pooling, excess):
            genes[position] = DevolGene("max_pooling", False)
    return genes


def init_devol(container, space: DevolSpace, rng=random):
    """A random individual of type ``container``.

    ``toolbox.register("individual", init_devol, creator.Individual, space)``
    """
    return container(random_devol_genes(space, rng))


def cx_devol(ind1, ind2, space: DevolSpace, rng=random):
    """One-point crossover on the fixed width (DEvol's): genes after a common cut are swapped.

    The cut is drawn uniformly among those whose two children are both valid
    and differ from the parents; with none, the parents stay unchanged. Every
    position keeps its parents' two genes between the children.
    """
    a, b = list(ind1), list(ind2)
    if len(a) != len(b):
        raise GenomeError(f"cx_devol needs genomes of one width, got {len(a)} and {len(b)} genes")
    cuts = []
    for cut in range(1, len(a)):
        child1, child2 = a[:cut] + b[cut:], b[:cut] + a[cut:]
        if child1 in (a, b):  # then child2 is the other parent: nothing exchanged
            continue
        if _pool_count(child1) <= space.max_pool_layers and _pool_count(child2) <= space.max_pool_layers:
            cuts.append(cut)
    if cuts:
        cut = rng.choice(cuts)
        ind1[:], ind2[:] = a[:cut] + b[cut:], b[:cut] + a[cut:]
    return ind1, ind2


def _expressed(genes, position) -> bool:
    """Whether the gene at ``position`` shapes the network: on/off genes, the optimiser, genes of switched-on layers."""
    field = genes[position].field
    if field in ("conv_active", "dense_active", "optimizer"):
        return True
    start = position
    while genes[start].field not in ("conv_active", "dense_active"):
        start -= 1
    return genes[start].value


def _alternatives(genes, position, space) -> list:
    """Values the gene at ``position`` may change to, keeping the genome valid."""
    gene = genes[position]
    options = [v for v in space.choices(gene.field) if v != gene.value]
    if gene.field in ("conv_active", "max_pooling") and _pool_count(genes) >= space.max_pool_layers:
        # Switching a pooling layer on, or pooling in a switched-on layer, adds one pooling.
        options = [
            v
            for v in options
            if _pool_count(genes[:position] + [DevolGene(gene.field, v)] + genes[position + 1 :])
            <= space.max_pool_layers
        ]
    return options


def mut_devol(individual, space: DevolSpace, rng=random, indpb=None):
    """Per-gene mutation: a gene takes another of its allowed values.

    With ``indpb=None`` (default) exactly one gene changes, drawn uniformly
    among the genes that shape the network (on/off genes, the optimiser and
    the genes of switched-on layers), so every mutation changes the network;
    silent genes of layers that are off wait for their layer to come back.
    With ``indpb`` a probability, each such gene mutates independently with
    it (as DEAP's ``mutFlipBit``). A change that would pool the maps below
    1x1 is never made.
    """
    genes = list(individual)
    if indpb is None:
        positions = [p for p in range(len(genes)) if _expressed(genes, p) and _alternatives(genes, p, space)]
        if positions:
            position = rng.choice(positions)
            individual[position] = DevolGene(genes[position].field, rng.choice(_alternatives(genes, position, space)))
        return (individual,)
    for position in range(len(genes)):
        if rng.random() < indpb and _expressed(genes, position):
            options = _alternatives(genes, position, space)
            if options:
                genes[position] = DevolGene(genes[position].field, rng.choice(options))
    individual[:] = genes
    return (individual,)


# ---------------------------------------------------------------------------
# The fitness hook
# ---------------------------------------------------------------------------

#: The loss a failed candidate is scored at by a fitness function: finite and far above any real loss.
FAILED_LOSS = 1e9


def fitness_accuracy(accuracy: float, loss: float) -> float:
    """DEvol's ``metric="accuracy"``: the validation accuracy (maximise)."""
    return accuracy


def fitness_neg_loss(accuracy: float, loss: float) -> float:
    """DEvol's ``metric="loss"``, negated so that a maximising fitness type serves: ``-loss``."""
    return -loss


class DevolFitness:
    """DEvol's fitness hook: a user function of validation accuracy and loss, around an evaluator.

    ``DevolFitness(evaluator, function).record(genome)`` trains ``genome``
    with ``evaluator`` (any object with ``record(genome)`` returning an
    :class:`~deap_cnn.evaluate.EvaluationRecord`, e.g. an
    :class:`~deap_cnn.evaluate.Evaluator`) and sets the record's fitness to
    ``(function(accuracy, loss),)``, from the last epoch's validation
    accuracy and loss (DEvol scores the trained model). Calling it returns
    that fitness tuple, so either form registers as ``evaluate``.

    ``function`` must be picklable for SCOOP workers: a module-level function
    such as :func:`fitness_accuracy`, :func:`fitness_neg_loss` or your own,
    not a lambda. A failed candidate (out of memory, diverged, broken) gets
    ``failed_fitness``; by default ``function(0.0, FAILED_LOSS)``, the
    worst score for any function that rises with accuracy and falls with loss,
    and also for one that is minimised and returns the loss.
    """

    def __init__(self, evaluator, function=fitness_accuracy, failed_fitness=None):
        if not callable(getattr(evaluator, "record", None)):
            raise TypeError(f"evaluator must have a record(genome) method, got {evaluator!r}")
        if not callable(function):
            raise TypeError(f"function must be callable as function(accuracy, loss), got {function!r}")
        self.evaluator = evaluator
        self.function = function
        if failed_fitness is None:
            failed_fitness = (self._score(0.0, FAILED_LOSS, "failed_fitness"),)
        self.failed_fitness = tuple(float(v) for v in failed_fitness)

    def __repr__(self):
        return f"DevolFitness({self.evaluator!r}, {_name(self.function)}, failed_fitness={self.failed_fitness!r})"

    def _score(self, accuracy, loss, what="fitness") -> float:
        value = float(self.function(accuracy, loss))
        if not math.isfinite(value):
            hint = "; pass failed_fitness=(value,)" if what == "failed_fitness" else ""
            raise ValueError(
                f"fitness function {_name(self.function)} gave {value} for accuracy {accuracy} and loss {loss}: "
                f"a fitness must be finite{hint}"
            )
        return value

    def record(self, genome):
        record = self.evaluator.record(genome)
        if record.status == "ok":
            record.fitness = (self._score(record.val_accuracy[-1], record.val_loss[-1]),)
        else:
            record.fitness = self.failed_fitness
        return record

    def __call__(self, genome) -> tuple:
        return self.record(genome).fitness

    def fingerprint(self) -> str:
        """The evaluator's fingerprint combined with the function's name, for the results store."""
        text = json.dumps([self.evaluator.fingerprint(), _name(self.function), list(self.failed_fitness)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _name(function) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
