"""DEvol's genome: fixed-width conv and dense layer genes plus an optimiser gene, and its canonical text."""

from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass

from ..base import GenomeError, is_int

__all__ = [
    "ACTIVATIONS",
    "OPTIMIZER_CHOICES",
    "CONV_FIELDS",
    "DENSE_FIELDS",
    "FIELDS",
    "ConvLayer",
    "DenseLayer",
    "DevolGene",
    "DevolGenome",
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


#: Optimisers the evaluator trains with (``deap_cnn.training.settings.OPTIMIZERS``, repeated here to stay torch-free).
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
    return is_int(value) and value >= 1


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
        return [DevolGene(field, value) for field, value in zip(fields, values, strict=True)]
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
        genes = [DevolGene(f, v) for layer in conv_layers for f, v in zip(CONV_FIELDS, ConvLayer(*layer), strict=True)]
        genes += [
            DevolGene(f, v) for layer in dense_layers for f, v in zip(DENSE_FIELDS, DenseLayer(*layer), strict=True)
        ]
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
