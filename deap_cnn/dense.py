"""The fully connected family: a variable-length genome of hidden layers for vector data.

After DeepLearnGene (Lukmaan Bawazer's genetic search over fully connected
Keras models): a genome is a list of hidden layers, each with a width, an
activation and a dropout rate; the network is those layers, then a linear
layer to the classes. Parents are chosen DeepLearnGene's way, the best
fraction of the population plus a random fraction of the rest
(:func:`sel_best_plus_random`, 20% + 10% by default).

A :class:`DenseGenome` is a :class:`list` of :class:`HiddenLayer`, so DEAP
builds an individual type on it (``creator.create("Individual", DenseGenome,
fitness=...)``). Its canonical text, ``256:relu:0.2-64:tanh:0.0`` (layers
joined by ``-``; width, activation and dropout joined by ``:``), parses
back with :meth:`DenseGenome.from_string` and keys the evaluation cache and
the results store. Operators follow DEAP's conventions (in place, tuples
returned, fitness left alone, ``rng``). Nothing here imports torch; the
network builder is :func:`deap_cnn.dense_network.build_dense_network`.

DeepLearnGene's growth records (per-epoch and per-batch losses and times)
and its per-network time limit come from the evaluator:
``TrainSettings(record_batches=True, time_budget=seconds)``.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from operator import attrgetter

from .devol import ACTIVATIONS, _is_dropout
from .genome import GenomeError
from .space import GenomeRules, SearchSpaceError, _is_int

__all__ = [
    "HiddenLayer",
    "DenseGenome",
    "DenseSpace",
    "DENSE_MUTATIONS",
    "random_dense_genome",
    "init_dense",
    "cx_dense",
    "cx_dense_uniform",
    "mut_dense",
    "applicable_dense_mutations",
    "sel_best_plus_random",
]

#: Mutation types of :func:`mut_dense`, in the order of :attr:`DenseSpace.mutation_weights`.
DENSE_MUTATIONS = ("units", "activation", "dropout", "add", "remove")

#: The traits of a hidden layer, in text order.
TRAITS = ("units", "activation", "dropout")


@dataclass(frozen=True)
class HiddenLayer:
    """One hidden layer: ``units`` wide, then ``activation``, then dropout at rate ``dropout``."""

    units: int
    activation: str = "relu"
    dropout: float = 0.0

    def __post_init__(self):
        if not _is_int(self.units) or self.units < 1:
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


def _as_choices(value, name, check, message):
    if isinstance(value, (str, bytes)):
        raise SearchSpaceError(f"{name} must be a sequence, got {value!r}")
    try:
        values = tuple(value)
    except TypeError:
        raise SearchSpaceError(f"{name} must be a sequence, got {value!r}") from None
    if not values or not all(check(v) for v in values):
        raise SearchSpaceError(f"{name} must be a non-empty sequence of {message}, got {value!r}")
    return tuple(dict.fromkeys(values))


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
        Allowed widths, activation names (from :data:`deap_cnn.devol.ACTIVATIONS`)
        and dropout rates of a hidden layer.
    mutation_weights:
        Relative weights of the mutation types in :data:`DENSE_MUTATIONS`
        (change a width, an activation or a dropout rate; add or remove a layer).
    """

    # The Evaluator's default builder, named rather than imported: this module stays torch-free.
    network_builder = "deap_cnn.dense_network:build_dense_network"

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
        shape = (self.input_shape,) if _is_int(self.input_shape) else self.input_shape
        try:
            shape = tuple(shape)
        except TypeError:
            shape = ()
        if not shape or not all(_is_int(v) and v >= 1 for v in shape):
            raise SearchSpaceError(
                f"input_shape must be (features,) or another shape of positive integers, got {self.input_shape!r}"
            )
        object.__setattr__(self, "input_shape", shape)
        if not _is_int(self.n_classes) or self.n_classes < 2:
            raise SearchSpaceError(f"n_classes must be an integer >= 2, got {self.n_classes!r}")
        if not _is_int(self.min_layers) or self.min_layers < 1:
            raise SearchSpaceError(f"min_layers must be an integer >= 1, got {self.min_layers!r}")
        if not _is_int(self.max_layers) or self.max_layers < self.min_layers:
            raise SearchSpaceError(
                f"max_layers must be an integer >= min_layers ({self.min_layers}), got {self.max_layers!r}"
            )
        object.__setattr__(
            self, "units", _as_choices(self.units, "units", lambda v: _is_int(v) and v >= 1, "positive integers")
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


# ---------------------------------------------------------------------------
# Variation
# ---------------------------------------------------------------------------


def _random_layer(space, rng) -> HiddenLayer:
    return HiddenLayer(rng.choice(space.units), rng.choice(space.activations), rng.choice(space.dropouts))


def random_dense_genome(space: DenseSpace, rng=random) -> list:
    """Hidden layers valid in ``space``: a count uniform in ``[min_layers, max_layers]``, traits uniform."""
    return [_random_layer(space, rng) for _ in range(rng.randint(space.min_layers, space.max_layers))]


def init_dense(container, space: DenseSpace, rng=random):
    """A random individual of type ``container``.

    ``toolbox.register("individual", init_dense, creator.Individual, space)``
    """
    return container(random_dense_genome(space, rng))


def cx_dense(ind1, ind2, space: DenseSpace, rng=random):
    """One-point crossover of parents of different lengths, each cut at its own point.

    With cuts ``i`` and ``j`` the children are ``ind1[:i] + ind2[j:]`` and
    ``ind2[:j] + ind1[i:]``; the pair of cuts is drawn uniformly among those
    whose children both have an allowed length and differ from the parents
    (none: the parents stay unchanged). The children hold exactly the
    parents' layers between them.
    """
    a, b = list(ind1), list(ind2)
    total = len(a) + len(b)
    cuts = []
    for i in range(len(a) + 1):
        for j in range(len(b) + 1):
            length = i + len(b) - j
            if not (
                space.min_layers <= length <= space.max_layers
                and space.min_layers <= total - length <= space.max_layers
            ):
                continue
            child1 = a[:i] + b[j:]
            if child1 != a and child1 != b:  # else the other child is the other parent
                cuts.append((i, j))
    if cuts:
        i, j = rng.choice(cuts)
        ind1[:], ind2[:] = a[:i] + b[j:], b[:j] + a[i:]
    return ind1, ind2


def cx_dense_uniform(ind1, ind2, space: DenseSpace, indpb: float = 0.5, rng=random):
    """DeepLearnGene-style trait mixing: at each depth both parents have, each trait swaps with probability ``indpb``.

    Lengths stay as they are; at every depth the children hold the parents'
    two widths, two activations and two dropout rates between them.
    """
    for position in range(min(len(ind1), len(ind2))):
        first, second = vars(ind1[position]).copy(), vars(ind2[position]).copy()
        for trait in TRAITS:
            if rng.random() < indpb:
                first[trait], second[trait] = second[trait], first[trait]
        ind1[position], ind2[position] = HiddenLayer(**first), HiddenLayer(**second)
    return ind1, ind2


def applicable_dense_mutations(layers, space: DenseSpace) -> list:
    """Names of the mutation types that can change ``layers`` without leaving ``space``."""
    applicable = {
        "add": len(layers) < space.max_layers,
        "remove": len(layers) > space.min_layers,
    }
    for trait in TRAITS:
        applicable[trait] = bool(layers) and len(space.choices(trait)) > 1
    return [name for name in DENSE_MUTATIONS if applicable[name]]


def mut_dense(individual, space: DenseSpace, rng=random):
    """Change one gene: a layer's width, activation or dropout rate, or add or remove a layer.

    The type is drawn by ``space.mutation_weights`` among the types that can
    apply (weights renormalised); a changed trait always takes another of
    its allowed values, an added layer is random and goes anywhere, and a
    removed layer is any one. When no type applies the genome is unchanged.
    """
    weights = dict(zip(DENSE_MUTATIONS, space.mutation_weights))
    names = [name for name in applicable_dense_mutations(individual, space) if weights[name] > 0]
    if not names:
        return (individual,)
    name = rng.choices(names, weights=[weights[n] for n in names])[0]
    if name == "add":
        individual.insert(rng.randint(0, len(individual)), _random_layer(space, rng))
    elif name == "remove":
        del individual[rng.randrange(len(individual))]
    else:
        position = rng.randrange(len(individual))
        layer = individual[position]
        value = rng.choice([v for v in space.choices(name) if v != getattr(layer, name)])
        individual[position] = HiddenLayer(**{**vars(layer), name: value})
    return (individual,)


# ---------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------


def _share(fraction: float, count: int) -> int:
    return int(fraction * count + 0.5)  # round half up, unlike round()


def sel_best_plus_random(individuals, k, best_fraction=0.2, random_fraction=0.1, rng=random, fit_attr="fitness"):
    """DeepLearnGene's parent selection as a DEAP selection operator.

    The parent pool is the best ``best_fraction`` of ``individuals`` (at
    least one) plus ``random_fraction`` of them drawn at random from the rest
    (at least one while any are left and ``random_fraction > 0``); both
    shares are of the whole population, rounded half up. ``k`` individuals
    are then drawn uniformly from the pool, without replacement while the
    pool lasts (so ``k`` equal to the pool's size returns the pool), then
    again. Like DEAP's selectors it returns references, not copies.

    As ``toolbox.select_mates`` in :func:`deap_cnn.algorithms.ea_cnn_ga`
    (called with ``k=2`` per pair), each pair of parents comes from a pool
    drawn afresh; as ``toolbox.select`` in ``deap.algorithms.eaSimple``, one
    pool breeds the whole next generation, as in DeepLearnGene.
    """
    for name, value in (("best_fraction", best_fraction), ("random_fraction", random_fraction)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    individuals = list(individuals)
    if not individuals:
        raise ValueError("sel_best_plus_random needs at least one individual, got none")
    ranked = sorted(individuals, key=attrgetter(fit_attr), reverse=True)
    n_best = min(len(ranked), max(1, _share(best_fraction, len(ranked))))
    best, rest = ranked[:n_best], ranked[n_best:]
    n_random = min(len(rest), max(1, _share(random_fraction, len(ranked)))) if random_fraction > 0 else 0
    pool = best + rng.sample(rest, n_random)
    chosen = []
    while len(chosen) < k:
        chosen += rng.sample(pool, min(len(pool), k - len(chosen)))
    return chosen
