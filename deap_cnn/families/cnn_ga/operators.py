"""CNN-GA's variation and selection operators, with DEAP's conventions.

Every operator works on plain genomes and knows nothing of torch or data.
Variation happens in place and returns a tuple of individuals; fitness is
left alone (DEAP's ``varAnd`` and :func:`deap_cnn.search.ga.ea_cnn_ga`
delete it). Randomness comes from ``rng``, any object with the
:class:`random.Random` interface (default: the :mod:`random` module), so a
seeded run is reproducible. Register them with the space bound, e.g.::

    toolbox.register("mate", deap_cnn.cx_one_point, space=space)
    toolbox.register("mutate", deap_cnn.mut_cnn_ga, space=space)

Every genome an operator returns is valid in ``space`` when its inputs are;
an operation that no valid result exists for leaves the genome unchanged.
"""

from __future__ import annotations

import random
from operator import attrgetter

from .genome import PoolGene, SkipGene
from .space import MUTATIONS

__all__ = [
    "random_genome",
    "init_genome",
    "cx_one_point",
    "mut_add_skip",
    "mut_add_pool",
    "mut_remove",
    "mut_change",
    "mut_cnn_ga",
    "sel_binary_tournament",
    "sel_environmental",
]


def random_genome(space, rng=random):
    """A list of random genes valid in ``space``.

    The skip-unit count is uniform in ``[min_skip_units, max_skip_units]``,
    the pooling-unit count uniform in ``[0, max_pool_units]``; widths and
    kinds are uniform over the space's choices; the first unit is a skip unit
    and the rest are shuffled.
    """
    n_skip = rng.randint(space.min_skip_units, space.max_skip_units)
    n_pool = rng.randint(0, space.max_pool_units)
    rest = [SkipGene(rng.choice(space.widths)) for _ in range(n_skip - 1)]
    rest += [PoolGene(rng.choice(space.pool_kinds)) for _ in range(n_pool)]
    rng.shuffle(rest)
    return [SkipGene(rng.choice(space.widths))] + rest


def init_genome(container, space, rng=random):
    """Build a random individual of type ``container``, like ``tools.initRepeat``.

    ``toolbox.register("individual", init_genome, creator.Individual, space)``
    """
    return container(random_genome(space, rng))


def _counts(genes):
    skips = sum(isinstance(g, SkipGene) for g in genes)
    return skips, len(genes) - skips


def cx_one_point(ind1, ind2, space, rng=random):
    """One-point crossover of parents of different lengths, each cut at its own point.

    With cuts ``i`` in ``ind1`` and ``j`` in ``ind2`` the children are
    ``ind1[:i] + ind2[j:]`` and ``ind2[:j] + ind1[i:]``. The pair of cuts is
    drawn uniformly among those whose two children are both valid and differ
    from the parents; when there is none, the parents are returned unchanged.
    The children hold exactly the parents' genes between them.
    """
    a, b = list(ind1), list(ind2)
    # Prefix counts make each candidate cut O(1) to check.
    pa = [_counts(a[:i]) for i in range(len(a) + 1)]
    pb = [_counts(b[:j]) for j in range(len(b) + 1)]
    sa, qa = pa[-1]
    sb, qb = pb[-1]

    def fits(skips, pools):
        return space.min_skip_units <= skips <= space.max_skip_units and pools <= space.max_pool_units

    cuts = []
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            s1, q1 = pa[i][0] + sb - pb[j][0], pa[i][1] + qb - pb[j][1]
            s2, q2 = pb[j][0] + sa - pa[i][0], pb[j][1] + qa - pa[i][1]
            if fits(s1, q1) and fits(s2, q2):
                c1, c2 = a[:i] + b[j:], b[:j] + a[i:]
                if (c1, c2) != (a, b) and (c1, c2) != (b, a):  # a real exchange, not the parents again
                    cuts.append((i, j))
    if cuts:
        i, j = rng.choice(cuts)
        ind1[:], ind2[:] = a[:i] + b[j:], b[:j] + a[i:]
    return ind1, ind2


def mut_add_skip(individual, space, rng=random):
    """Insert a skip unit of random width at a random position (if below ``max_skip_units``)."""
    if _counts(individual)[0] < space.max_skip_units:
        individual.insert(rng.randint(0, len(individual)), SkipGene(rng.choice(space.widths)))
    return (individual,)


def mut_add_pool(individual, space, rng=random):
    """Insert a pooling unit of random kind anywhere but first (if below ``max_pool_units``)."""
    if _counts(individual)[1] < space.max_pool_units:
        individual.insert(rng.randint(1, len(individual)), PoolGene(rng.choice(space.pool_kinds)))
    return (individual,)


def _removable(genes, space):
    skips, _ = _counts(genes)
    pool_second = len(genes) > 1 and isinstance(genes[1], PoolGene)
    # Pooling units can always go; a skip unit cannot when it is one of the
    # last ``min_skip_units``, or when it is first and pooling would take its place.
    return [
        k
        for k, gene in enumerate(genes)
        if isinstance(gene, PoolGene) or (skips > space.min_skip_units and not (k == 0 and pool_second))
    ]


def mut_remove(individual, space, rng=random):
    """Remove a random unit whose removal keeps the genome valid."""
    positions = _removable(individual, space)
    if positions:
        del individual[rng.choice(positions)]
    return (individual,)


def _changeable(genes, space):
    return [
        k
        for k, gene in enumerate(genes)
        if (isinstance(gene, SkipGene) and len(space.widths) > 1)
        or (isinstance(gene, PoolGene) and len(space.pool_kinds) > 1)
    ]


def mut_change(individual, space, rng=random):
    """Change one unit's parameters: a skip unit's width or a pooling unit's kind.

    The new value always differs from the old one.
    """
    positions = _changeable(individual, space)
    if positions:
        k = rng.choice(positions)
        gene = individual[k]
        if isinstance(gene, SkipGene):
            individual[k] = SkipGene(rng.choice([w for w in space.widths if w != gene.width]))
        else:
            individual[k] = PoolGene(rng.choice([p for p in space.pool_kinds if p != gene.kind]))
    return (individual,)


_MUTATORS = dict(zip(MUTATIONS, (mut_add_skip, mut_add_pool, mut_remove, mut_change), strict=True))


def applicable_mutations(genes, space):
    """Names of the mutations that can change ``genes`` without breaking the space."""
    skips, pools = _counts(genes)
    applicable = {
        "add_skip": skips < space.max_skip_units,
        "add_pool": pools < space.max_pool_units,
        "remove": bool(_removable(genes, space)),
        "change": bool(_changeable(genes, space)),
    }
    return [name for name in MUTATIONS if applicable[name]]


def mut_cnn_ga(individual, space, rng=random):
    """CNN-GA's mutation: one of add-skip, add-pooling, remove and change.

    The type is drawn by ``space.mutation_probabilities`` among the types that
    can apply to this genome (weights renormalised), so a mutation always
    changes the genome when any type can.
    """
    weights = dict(zip(MUTATIONS, space.mutation_probabilities, strict=True))
    names = [name for name in applicable_mutations(individual, space) if weights[name] > 0]
    if names:
        name = rng.choices(names, weights=[weights[n] for n in names])[0]
        _MUTATORS[name](individual, space, rng)
    return (individual,)


def _better(first, second, fit_attr):
    return first if getattr(first, fit_attr) >= getattr(second, fit_attr) else second


def sel_binary_tournament(individuals, k, rng=random, fit_attr="fitness"):
    """Select ``k`` individuals, each the better of two distinct random ones.

    Like DEAP's selectors it returns references, not copies; ties go to the
    first drawn. With a single individual, that individual is returned ``k`` times.
    """
    individuals = list(individuals)
    if len(individuals) < 2:
        return individuals * k
    chosen = []
    for _ in range(k):
        first, second = rng.sample(individuals, 2)
        chosen.append(_better(first, second, fit_attr))
    return chosen


def sel_environmental(individuals, k, rng=random, fit_attr="fitness"):
    """CNN-GA's environmental selection over parents and offspring together.

    ``k`` binary tournaments over ``individuals`` choose the next population;
    then, if the best individual was not chosen, it replaces the worst chosen
    one (elitism). Returns a list of ``k`` references.
    """
    individuals = list(individuals)
    if not individuals:
        raise ValueError("environmental selection needs at least one individual, got none")
    chosen = sel_binary_tournament(individuals, k, rng, fit_attr)
    best = max(individuals, key=attrgetter(fit_attr))
    if chosen and not any(ind is best for ind in chosen):
        worst = min(range(len(chosen)), key=lambda n: getattr(chosen[n], fit_attr))
        chosen[worst] = best
    return chosen
