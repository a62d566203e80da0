"""DEAP operators of the fully connected family: init, crossovers, mutation and DeepLearnGene's mate selection."""

from __future__ import annotations

import random
from operator import attrgetter

from .genome import TRAITS, HiddenLayer
from .space import DENSE_MUTATIONS, DenseSpace

__all__ = [
    "random_dense_genome",
    "init_dense",
    "cx_dense",
    "cx_dense_uniform",
    "applicable_dense_mutations",
    "mut_dense",
    "sel_best_plus_random",
]


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
    weights = dict(zip(DENSE_MUTATIONS, space.mutation_weights, strict=True))
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

    As ``toolbox.select_mates`` in :func:`deap_cnn.search.ga.ea_cnn_ga`
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
