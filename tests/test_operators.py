"""Property tests for the variation and selection operators.

Each mutation is checked against a brute-force oracle: the set of every genome
that mutation type could produce from the parent in the space.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from conftest import as_individual, search_spaces, space_and_genomes
from deap import creator
from hypothesis import given
from hypothesis import strategies as st

from deap_cnn import (
    Genome,
    PoolGene,
    SearchSpace,
    SkipGene,
    cx_one_point,
    init_genome,
    mut_add_pool,
    mut_add_skip,
    mut_change,
    mut_cnn_ga,
    mut_remove,
    random_genome,
    sel_binary_tournament,
    sel_environmental,
)
from deap_cnn.families.cnn_ga.space import MUTATIONS

seeds = st.integers(0, 2**32 - 1)
FITNESS = (0.75,)


def key(genes):
    return tuple(str(g) for g in genes)


# --- oracles: every result a mutation type could give -----------------------------


def add_skip_outcomes(genes, space):
    if sum(isinstance(g, SkipGene) for g in genes) >= space.max_skip_units:
        return set()
    return {key(genes[:p] + [SkipGene(w)] + genes[p:]) for p in range(len(genes) + 1) for w in space.widths}


def add_pool_outcomes(genes, space):
    if sum(isinstance(g, PoolGene) for g in genes) >= space.max_pool_units:
        return set()
    return {key(genes[:p] + [PoolGene(k)] + genes[p:]) for p in range(1, len(genes) + 1) for k in space.pool_kinds}


def remove_outcomes(genes, space):
    candidates = (genes[:p] + genes[p + 1 :] for p in range(len(genes)))
    return {key(c) for c in candidates if space.is_valid(c)}


def change_outcomes(genes, space):
    out = set()
    for p, gene in enumerate(genes):
        if isinstance(gene, SkipGene):
            options = [SkipGene(w) for w in space.widths if w != gene.width]
        else:
            options = [PoolGene(k) for k in space.pool_kinds if k != gene.kind]
        out |= {key(genes[:p] + [o] + genes[p + 1 :]) for o in options}
    return out


OUTCOMES = dict(zip(MUTATIONS, (add_skip_outcomes, add_pool_outcomes, remove_outcomes, change_outcomes), strict=True))
MUTATORS = dict(zip(MUTATIONS, (mut_add_skip, mut_add_pool, mut_remove, mut_change), strict=True))


# --- initialisation ---------------------------------------------------------------


@given(search_spaces(), seeds)
def test_random_genome_is_valid(space, seed):
    genes = random_genome(space, random.Random(seed))
    assert space.violations(genes) == []
    assert isinstance(genes[0], SkipGene)


@given(search_spaces(), seeds)
def test_init_genome_builds_valid_individual(space, seed):
    ind = init_genome(creator.Individual, space, random.Random(seed))
    assert type(ind) is creator.Individual
    assert space.is_valid(ind)
    assert not ind.fitness.valid
    assert init_genome(creator.Individual, space, random.Random(seed)) == ind


def test_random_genome_covers_the_bounds():
    space = SearchSpace(input_shape=(1, 8, 8), widths=(4, 8), min_skip_units=1, max_skip_units=3)
    rng = random.Random(0)
    counts = {(g.skip_count, g.pool_count) for g in (Genome(random_genome(space, rng)) for _ in range(400))}
    assert counts == {(s, p) for s in range(1, 4) for p in range(0, 4)}


# --- crossover --------------------------------------------------------------------


def valid_exchanges(a, b, space):
    """Every (child1, child2) pair a one-point crossover could give that differs from the parents."""
    out = set()
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            c1, c2 = a[:i] + b[j:], b[:j] + a[i:]
            if space.is_valid(c1) and space.is_valid(c2) and {key(c1), key(c2)} != {key(a), key(b)}:
                out.add((key(c1), key(c2)))
    return out


@given(space_and_genomes(n=2), seeds)
def test_cx_one_point(case, seed):
    space, (g1, g2) = case
    ind1, ind2 = as_individual(g1, fitness=(1.0,)), as_individual(g2, fitness=(2.0,))
    before1, before2 = list(ind1), list(ind2)
    result = cx_one_point(ind1, ind2, space, rng=random.Random(seed))
    assert isinstance(result, tuple) and len(result) == 2
    assert result[0] is ind1 and result[1] is ind2
    assert type(ind1) is creator.Individual and type(ind2) is creator.Individual
    assert space.violations(ind1) == [] and space.violations(ind2) == []
    assert Counter(ind1) + Counter(ind2) == Counter(before1) + Counter(before2)
    assert ind1.fitness.values == (1.0,) and ind2.fitness.values == (2.0,)
    # The children are one of the possible real exchanges; the parents come back
    # unchanged only when no real exchange exists.
    options = valid_exchanges(before1, before2, space)
    if options:
        assert (key(ind1), key(ind2)) in options
    else:
        assert list(ind1) == before1 and list(ind2) == before2


def test_cx_one_point_never_returns_the_parents_when_an_exchange_exists():
    space = SearchSpace(widths=(64, 128), max_skip_units=4)
    a, b = Genome.from_string("S64-S128"), Genome.from_string("S64-S128")
    for seed in range(50):
        c1, c2 = Genome(a), Genome(b)
        cx_one_point(c1, c2, space, rng=random.Random(seed))
        assert sorted([str(c1), str(c2)]) == ["S64", "S64-S128-S128"]


def test_cx_one_point_returns_parents_unchanged_when_no_valid_cut():
    # Only a swap of the pooling tails is valid, and that gives the parents back.
    space = SearchSpace(widths=(64,), min_skip_units=1, max_skip_units=1, max_pool_units=1)
    a, b = Genome.from_string("S64-Pmax"), Genome.from_string("S64-Pmean")
    c1, c2 = cx_one_point(a, b, space, rng=random.Random(1))
    assert (str(c1), str(c2)) in {("S64-Pmax", "S64-Pmean"), ("S64-Pmean", "S64-Pmax")}
    single = SearchSpace(widths=(64,), max_skip_units=1, max_pool_units=0)
    x, y = Genome.from_string("S64"), Genome.from_string("S64")
    cx_one_point(x, y, single, rng=random.Random(1))
    assert str(x) == str(y) == "S64"


# --- mutations --------------------------------------------------------------------


@pytest.mark.parametrize("name", MUTATIONS)
@given(case=space_and_genomes(), seed=seeds)
def test_each_mutation_matches_its_oracle(name, case, seed):
    space, (genome,) = case
    ind = as_individual(genome, fitness=FITNESS)
    before = list(ind)
    result = MUTATORS[name](ind, space, rng=random.Random(seed))
    assert isinstance(result, tuple) and len(result) == 1 and result[0] is ind
    assert type(ind) is creator.Individual
    assert space.violations(ind) == []
    assert ind.fitness.values == FITNESS
    outcomes = OUTCOMES[name](before, space)
    if outcomes:
        assert key(ind) in outcomes
    else:
        assert list(ind) == before


@given(space_and_genomes(), seeds)
def test_mut_add_skip(case, seed):
    space, (genome,) = case
    ind = as_individual(genome)
    skips, pools = genome.skip_count, genome.pool_count
    mut_add_skip(ind, space, rng=random.Random(seed))
    if skips < space.max_skip_units:
        assert ind.skip_count == skips + 1 and len(ind) == len(genome) + 1
        new = Counter(ind) - Counter(genome)
        assert sum(new.values()) == 1
        (gene,) = new
        assert isinstance(gene, SkipGene) and gene.width in space.widths
    else:
        assert ind == genome
    assert ind.pool_count == pools


@given(space_and_genomes(), seeds)
def test_mut_add_pool(case, seed):
    space, (genome,) = case
    ind = as_individual(genome)
    pools = genome.pool_count
    mut_add_pool(ind, space, rng=random.Random(seed))
    if pools < space.max_pool_units:
        assert ind.pool_count == pools + 1 and len(ind) == len(genome) + 1
        assert isinstance(ind[0], SkipGene)
        (gene,) = Counter(ind) - Counter(genome)
        assert gene.kind in space.pool_kinds
    else:
        assert ind == genome
    assert ind.skip_count == genome.skip_count


@given(space_and_genomes(), seeds)
def test_mut_remove(case, seed):
    space, (genome,) = case
    ind = as_individual(genome)
    mut_remove(ind, space, rng=random.Random(seed))
    can_remove = any(space.is_valid(genome[:p] + genome[p + 1 :]) for p in range(len(genome)))
    if can_remove:
        assert len(ind) == len(genome) - 1
        assert sum((Counter(genome) - Counter(ind)).values()) == 1
        assert not Counter(ind) - Counter(genome)
    else:
        assert ind == genome


@given(space_and_genomes(), seeds)
def test_mut_change(case, seed):
    space, (genome,) = case
    ind = as_individual(genome)
    mut_change(ind, space, rng=random.Random(seed))
    assert len(ind) == len(genome)
    assert [type(g) for g in ind] == [type(g) for g in genome]
    changed = [p for p in range(len(genome)) if ind[p] != genome[p]]
    can_change = len(space.widths) > 1 or (len(space.pool_kinds) > 1 and genome.pool_count > 0)
    assert len(changed) == (1 if can_change else 0)


@given(space_and_genomes(), seeds)
def test_mut_cnn_ga_picks_an_applicable_weighted_type(case, seed):
    space, (genome,) = case
    ind = as_individual(genome, fitness=FITNESS)
    result = mut_cnn_ga(ind, space, rng=random.Random(seed))
    assert result == (ind,) and result[0] is ind
    assert space.violations(ind) == [] and ind.fitness.values == FITNESS
    possible = set()
    for name, weight in zip(MUTATIONS, space.mutation_probabilities, strict=True):
        if weight > 0:
            possible |= OUTCOMES[name](list(genome), space)
    if possible:
        assert key(ind) in possible
    else:
        assert ind == genome


@pytest.mark.parametrize("index, name", list(enumerate(MUTATIONS)))
@given(case=space_and_genomes(spaces=search_spaces()), seed=seeds)
def test_mut_cnn_ga_with_one_type_behaves_as_that_type(index, name, case, seed):
    base_space, (genome,) = case
    weights = [0, 0, 0, 0]
    weights[index] = 1
    space = SearchSpace(
        input_shape=base_space.input_shape,
        widths=base_space.widths,
        min_skip_units=base_space.min_skip_units,
        max_skip_units=base_space.max_skip_units,
        max_pool_units=base_space.max_pool_units,
        pool_kinds=base_space.pool_kinds,
        mutation_probabilities=tuple(weights),
    )
    ind = Genome(genome)
    mut_cnn_ga(ind, space, rng=random.Random(seed))
    outcomes = OUTCOMES[name](list(genome), space)
    if outcomes:
        assert key(ind) in outcomes
    else:
        assert ind == genome


def test_mut_cnn_ga_follows_the_weights():
    space = SearchSpace(
        input_shape=(1, 28, 28), widths=(4, 8), max_skip_units=10, mutation_probabilities=(0.7, 0.1, 0.1, 0.1)
    )
    rng = random.Random(0)
    tally = Counter()
    for _ in range(2000):
        genome = Genome.from_string("S4-Pmax-S8")  # every type applies
        before_skips, before_pools, before_len = genome.skip_count, genome.pool_count, len(genome)
        mut_cnn_ga(genome, space, rng=rng)
        if genome.skip_count > before_skips:
            tally["add_skip"] += 1
        elif genome.pool_count > before_pools:
            tally["add_pool"] += 1
        elif len(genome) < before_len:
            tally["remove"] += 1
        else:
            tally["change"] += 1
    assert 1250 < tally["add_skip"] < 1550
    for name in ("add_pool", "remove", "change"):
        assert 120 < tally[name] < 290


@pytest.mark.parametrize("op", [mut_add_skip, mut_add_pool, mut_remove, mut_change, mut_cnn_ga])
@given(case=space_and_genomes(), seed=seeds)
def test_mutation_reproducible(op, case, seed):
    space, (genome,) = case
    a, b = Genome(genome), Genome(genome)
    op(a, space, rng=random.Random(seed))
    op(b, space, rng=random.Random(seed))
    assert a == b


@given(space_and_genomes(n=2), seeds)
def test_crossover_and_init_reproducible(case, seed):
    space, (g1, g2) = case
    pair_a = cx_one_point(Genome(g1), Genome(g2), space, rng=random.Random(seed))
    pair_b = cx_one_point(Genome(g1), Genome(g2), space, rng=random.Random(seed))
    assert pair_a == pair_b
    assert random_genome(space, random.Random(seed)) == random_genome(space, random.Random(seed))


@given(
    space_and_genomes(),
    st.lists(st.sampled_from([mut_add_skip, mut_add_pool, mut_remove, mut_change, mut_cnn_ga]), max_size=30),
    seeds,
)
def test_mutation_chains_stay_valid(case, ops, seed):
    space, (genome,) = case
    rng = random.Random(seed)
    for op in ops:
        op(genome, space, rng=rng)
        assert space.violations(genome) == []


# --- selection --------------------------------------------------------------------


@st.composite
def populations(draw, min_size=1, max_size=12):
    """A population with pairwise distinct fitness, either maximised or minimised."""
    cls = draw(st.sampled_from([creator.Individual, creator.IndividualMin]))
    size = draw(st.integers(min_size, max_size))
    values = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=size, max_size=size, unique=True))
    return [as_individual(Genome([SkipGene(64)] * (n + 1)), cls, (v,)) for n, v in enumerate(values)]


def _identity_members(chosen, population):
    ids = {id(ind) for ind in population}
    return all(id(ind) in ids for ind in chosen)


@given(populations(min_size=2), st.integers(0, 30), seeds)
def test_sel_binary_tournament(population, k, seed):
    snapshot = [(str(i), i.fitness.values) for i in population]
    chosen = sel_binary_tournament(population, k, rng=random.Random(seed))
    assert len(chosen) == k
    assert _identity_members(chosen, population)
    worst = min(population, key=lambda ind: ind.fitness)
    assert all(ind is not worst for ind in chosen)
    # selection copies nothing and changes nothing
    assert [(str(i), i.fitness.values) for i in population] == snapshot


def test_sel_binary_tournament_prefers_better_by_weighted_fitness():
    rng = random.Random(3)
    low, high = (as_individual(Genome.from_string("S64"), creator.IndividualMin, (v,)) for v in (1.0, 2.0))
    assert all(ind is low for ind in sel_binary_tournament([low, high], 20, rng=rng))
    low, high = (as_individual(Genome.from_string("S64"), creator.Individual, (v,)) for v in (1.0, 2.0))
    assert all(ind is high for ind in sel_binary_tournament([low, high], 20, rng=rng))


def test_sel_binary_tournament_single_individual():
    only = as_individual(Genome.from_string("S64"))
    assert sel_binary_tournament([only], 4, rng=random.Random(0)) == [only] * 4


@given(populations(), st.integers(1, 30), seeds)
def test_sel_environmental(population, k, seed):
    chosen = sel_environmental(population, k, rng=random.Random(seed))
    assert len(chosen) == k
    assert _identity_members(chosen, population)
    best = max(population, key=lambda ind: ind.fitness)
    assert any(ind is best for ind in chosen)


@given(populations(min_size=2), st.integers(1, 30), seeds)
def test_selection_reproducible(population, k, seed):
    for select in (sel_binary_tournament, sel_environmental):
        first = select(population, k, rng=random.Random(seed))
        second = select(population, k, rng=random.Random(seed))
        assert [id(i) for i in first] == [id(i) for i in second]


@given(populations(min_size=4), seeds)
def test_sel_environmental_elitism_replaces_the_worst_chosen(population, seed):
    # Compare with the plain tournament drawn from the same seed: when the best was
    # missing, exactly the worst chosen slot was replaced by it.
    k = 2
    plain = sel_binary_tournament(population, k, rng=random.Random(seed))
    elitist = sel_environmental(population, k, rng=random.Random(seed))
    best = max(population, key=lambda ind: ind.fitness)
    if any(ind is best for ind in plain):
        assert [id(i) for i in plain] == [id(i) for i in elitist]
    else:
        worst_slot = min(range(k), key=lambda n: plain[n].fitness)
        expected = list(plain)
        expected[worst_slot] = best
        assert [id(i) for i in elitist] == [id(i) for i in expected]
