"""Genome text form, SearchSpace rules and the DEAP plumbing (pickle, clone, HallOfFame)."""

from __future__ import annotations

import copy
import pickle
import random

import pytest
from conftest import as_individual, genomes, search_spaces, space_and_genomes
from deap import base, creator, tools
from hypothesis import given
from hypothesis import strategies as st

from deap_cnn import (
    Genome,
    GenomeError,
    PoolGene,
    SearchSpace,
    SearchSpaceError,
    SkipGene,
    random_genome,
)

# --- canonical text ---------------------------------------------------------------


@given(space_and_genomes())
def test_text_round_trip(case):
    _, (genome,) = case
    text = str(genome)
    back = Genome.from_string(text)
    assert back == genome
    assert type(back) is Genome
    assert str(back) == text
    # one token per gene, nothing else in the text
    assert len(text.split("-")) == len(genome)
    assert eval(repr(genome), {"Genome": Genome}) == genome


@given(space_and_genomes())
def test_text_round_trip_for_creator_individual(case):
    _, (genome,) = case
    ind = creator.Individual.from_string(str(genome))
    assert type(ind) is creator.Individual
    assert ind == genome
    assert not ind.fitness.valid
    assert str(ind) == str(genome)


@given(
    st.lists(st.one_of(st.integers(1, 4096).map(SkipGene), st.sampled_from(["max", "mean"]).map(PoolGene)), min_size=1)
)
def test_text_round_trip_ignores_validity(genes):
    # The text form is defined for any gene list, valid in a space or not.
    genome = Genome(genes)
    assert Genome.from_string(str(genome)) == genome


def test_equal_architectures_share_text_and_different_ones_do_not():
    assert str(Genome.from_string("S64-S128-Pmax-S256")) == "S64-S128-Pmax-S256"
    assert str(Genome.from_string("S64-Pmax")) != str(Genome.from_string("S64-Pmean"))
    assert str(Genome([SkipGene(64), PoolGene("mean")])) == "S64-Pmean"


@pytest.mark.parametrize(
    "text, token",
    [
        ("", "''"),
        ("S", "'S'"),
        ("S0", "'S0'"),
        ("Pfoo", "'Pfoo'"),
        ("X12", "'X12'"),
        ("S64--S64", "''"),
        ("S64-Pmax-", "''"),
        ("S064", "'S064'"),
        ("S64-pmax", "'pmax'"),
        ("S-64", "'S'"),
    ],
)
def test_bad_strings_raise_genome_error_naming_the_token(text, token):
    with pytest.raises(GenomeError) as info:
        Genome.from_string(text)
    assert token in str(info.value)


def test_bad_string_error_for_empty_gene_says_cannot_parse():
    with pytest.raises(GenomeError, match="cannot parse gene ''"):
        Genome.from_string("S64--S64")


def test_non_string_input_is_rejected():
    with pytest.raises(GenomeError):
        Genome.from_string(None)
    with pytest.raises(GenomeError):
        Genome(["S64"])


def test_bad_gene_values():
    with pytest.raises(GenomeError, match="width"):
        SkipGene(0)
    with pytest.raises(GenomeError, match="width"):
        SkipGene(True)
    with pytest.raises(GenomeError, match="'min'"):
        PoolGene("min")


def test_skip_and_pool_counts():
    genome = Genome.from_string("S64-Pmax-S128-Pmean-S64")
    assert (genome.skip_count, genome.pool_count) == (3, 2)


# --- SearchSpace.validate ---------------------------------------------------------


def _violation(space, text):
    with pytest.raises(GenomeError) as info:
        space.validate(text)
    return str(info.value)


def test_validate_returns_valid_genome():
    space = SearchSpace()
    genome = Genome.from_string("S64-Pmax-S128")
    assert space.validate(genome) is genome
    assert space.validate("S64-Pmax-S128") == genome


def test_validate_no_pooling_first():
    message = _violation(SearchSpace(), "Pmax-S64")
    assert "no pooling first" in message
    assert "Pmax" in message


def test_validate_skip_unit_count_too_many_and_too_few():
    space = SearchSpace(widths=(64,), min_skip_units=2, max_skip_units=3)
    message = _violation(space, "S64-S64-S64-S64")
    assert "skip unit count" in message and "4 skip units" in message and "2 to 3" in message
    message = _violation(space, "S64-Pmax")
    assert "skip unit count" in message and "1 skip units" in message


def test_validate_pooling_unit_count():
    space = SearchSpace(input_shape=(1, 4, 4))  # max_pool_units derived as 2
    message = _violation(space, "S64-Pmax-Pmax-Pmean")
    assert "pooling unit count" in message
    assert "3 pooling units" in message and "at most 2" in message


def test_validate_width_choices():
    message = _violation(SearchSpace(widths=(64, 128)), "S64-S100")
    assert "width choices" in message
    assert "100" in message and "unit 1" in message


def test_validate_pooling_kinds():
    message = _violation(SearchSpace(pool_kinds=("max",)), "S64-Pmean")
    assert "pooling kinds" in message
    assert "mean" in message


def test_validate_empty_genome():
    with pytest.raises(GenomeError, match="non-empty"):
        SearchSpace().validate(Genome())


def test_validate_names_every_broken_rule():
    message = _violation(SearchSpace(widths=(64,), pool_kinds=("max",)), "Pmean-S32")
    for rule in ("no pooling first", "width choices", "pooling kinds"):
        assert rule in message


@given(space_and_genomes())
def test_generated_genomes_are_valid(case):
    space, (genome,) = case
    assert space.violations(genome) == []
    assert space.is_valid(genome)


@given(search_spaces(), st.integers(0, 2**32 - 1))
def test_violations_agree_with_rules(space, seed):
    # Break a valid genome in one known way and check exactly that rule is reported.
    rng = random.Random(seed)
    genome = Genome(random_genome(space, rng))
    broken = Genome([PoolGene(space.pool_kinds[0])] + list(genome))
    problems = space.violations(broken)
    assert any("no pooling first" in p for p in problems)
    if genome.pool_count == space.max_pool_units:
        assert any("pooling unit count" in p for p in problems)
    else:
        assert len(problems) == 1


# --- SearchSpace construction -----------------------------------------------------


def test_default_space():
    space = SearchSpace()
    assert space.input_shape == (3, 32, 32)
    assert space.widths == (64, 128, 256)
    assert space.pool_kinds == ("max", "mean")
    assert space.max_pool_units == 3
    assert space.mutation_probabilities == (0.7, 0.1, 0.1, 0.1)


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((3, 32, 32), 3),
        ((1, 28, 28), 3),
        ((1, 8, 8), 3),
        ((1, 4, 4), 2),
        ((3, 5, 9), 2),
        ((1, 2, 2), 1),
        ((1, 1, 1), 0),
    ],
)
def test_derived_max_pool_units(shape, expected):
    assert SearchSpace(input_shape=shape).max_pool_units == expected


@pytest.mark.parametrize("n_classes", [0, 1, -3, 2.0, True, "10"])
def test_bad_n_classes(n_classes):
    with pytest.raises(SearchSpaceError, match="n_classes"):
        SearchSpace(n_classes=n_classes)


def test_input_too_small_for_max_pool_units_names_shape_and_allowed_count():
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace(input_shape=(1, 4, 4), max_pool_units=3)
    message = str(info.value)
    assert "(1, 4, 4)" in message
    assert "at most 2" in message
    assert "max_pool_units=3" in message
    # the allowed count itself is fine
    assert SearchSpace(input_shape=(1, 4, 4), max_pool_units=2).max_pool_units == 2


@pytest.mark.parametrize("widths", [(), (0,), (-64,), (64.0,), (True,), (64, "128"), 64, None, "64"])
def test_bad_widths(widths):
    with pytest.raises(SearchSpaceError, match="widths"):
        SearchSpace(widths=widths)


@pytest.mark.parametrize(
    "probabilities",
    [
        (1, 1, 1),
        (0.2, 0.2, 0.2, 0.2, 0.2),
        (0, 0, 0, 0),
        (-0.1, 0.5, 0.3, 0.3),
        (float("nan"), 0.1, 0.1, 0.1),
        (float("inf"), 0.1, 0.1, 0.1),
        ("a", 0.1, 0.1, 0.1),
        "1234",
        None,
        0.5,
    ],
)
def test_bad_probabilities(probabilities):
    with pytest.raises(SearchSpaceError, match="mutation_probabilities"):
        SearchSpace(mutation_probabilities=probabilities)


@pytest.mark.parametrize(
    "kwargs, setting",
    [
        (dict(input_shape=(3, 32)), "input_shape"),
        (dict(input_shape=(3, 0, 32)), "input_shape"),
        (dict(input_shape=(True, 8, 8)), "input_shape"),
        (dict(input_shape=None), "input_shape"),
        (dict(min_skip_units=0), "min_skip_units"),
        (dict(min_skip_units=True), "min_skip_units"),
        (dict(min_skip_units=3, max_skip_units=2), "max_skip_units"),
        (dict(max_pool_units=-1), "max_pool_units"),
        (dict(max_pool_units=1.5), "max_pool_units"),
        (dict(max_pool_units=True), "max_pool_units"),
        (dict(pool_kinds=()), "pool_kinds"),
        (dict(pool_kinds=("min",)), "pool_kinds"),
        (dict(pool_kinds="max"), "pool_kinds"),
        (dict(pool_kinds=None), "pool_kinds"),
    ],
)
def test_other_bad_settings(kwargs, setting):
    with pytest.raises(SearchSpaceError, match=setting):
        SearchSpace(**kwargs)


def test_space_normalises_and_is_hashable():
    space = SearchSpace(input_shape=[1, 28, 28], widths=[128, 64, 64], mutation_probabilities=[1, 0, 0, 0])
    assert space.input_shape == (1, 28, 28)
    assert space.widths == (64, 128)
    assert space.mutation_probabilities == (1.0, 0.0, 0.0, 0.0)
    assert hash(space) == hash(
        SearchSpace(input_shape=(1, 28, 28), widths=(64, 128), mutation_probabilities=(1, 0, 0, 0))
    )


# --- DEAP plumbing ----------------------------------------------------------------


@given(space_and_genomes(), st.floats(allow_nan=False, allow_infinity=False))
def test_pickle_round_trip_keeps_fitness(case, value):
    _, (genome,) = case
    ind = as_individual(genome, fitness=(value,))
    back = pickle.loads(pickle.dumps(ind))
    assert type(back) is creator.Individual
    assert back == ind and str(back) == str(ind)
    assert back.fitness.valid
    assert back.fitness.values == (value,)
    assert back.fitness.weights == (1.0,)


def test_pickle_round_trip_without_fitness():
    back = pickle.loads(pickle.dumps(creator.IndividualMin.from_string("S64-Pmean-S128")))
    assert type(back) is creator.IndividualMin
    assert str(back) == "S64-Pmean-S128"
    assert not back.fitness.valid


def test_toolbox_clone_is_deep():
    toolbox = base.Toolbox()
    original = as_individual(Genome.from_string("S64-Pmax-S128"), fitness=(0.25,))
    clone = toolbox.clone(original)
    assert clone == original and clone is not original
    assert clone.fitness is not original.fitness
    clone.append(SkipGene(256))
    clone[0] = SkipGene(128)
    del clone.fitness.values
    assert str(original) == "S64-Pmax-S128"
    assert original.fitness.values == (0.25,)
    assert str(clone) == "S128-Pmax-S128-S256"


@given(space_and_genomes(n=8), st.randoms(use_true_random=False))
def test_hall_of_fame_keeps_the_three_best(case, rng):
    _, population_genomes = case
    # HallOfFame treats equal genomes as one entry, so keep only distinct genomes.
    distinct = list({str(g): g for g in population_genomes}.values())
    values = rng.sample(range(1000), len(distinct))
    population = [as_individual(g, fitness=(float(v),)) for g, v in zip(distinct, values, strict=True)]
    hof = tools.HallOfFame(3)
    hof.update(population)
    expected = sorted(population, key=lambda ind: ind.fitness.values[0], reverse=True)[:3]
    assert len(hof) == min(3, len(population))
    assert [str(i) for i in hof] == [str(i) for i in expected]
    assert [i.fitness.values for i in hof] == [i.fitness.values for i in expected]
    # the hall of fame holds copies
    assert all(h is not p for h in hof for p in population)


def test_hall_of_fame_for_minimisation():
    texts = ["S64", "S128", "S256", "S64-Pmax", "S64-S64"]
    population = [as_individual(Genome.from_string(t), creator.IndividualMin, (float(n),)) for n, t in enumerate(texts)]
    hof = tools.HallOfFame(3)
    hof.update(population)
    assert [str(i) for i in hof] == ["S64", "S128", "S256"]


def test_genome_copy_module_behaviour():
    genome = Genome.from_string("S64-Pmax")
    shallow = copy.copy(genome)
    assert type(shallow) is Genome and shallow == genome and shallow is not genome


def test_genomes_strategy_hits_edges():
    # A sanity check on the shared strategy: edge genomes are reachable.
    space = SearchSpace(input_shape=(1, 8, 8), widths=(64,), min_skip_units=2, max_skip_units=4)
    seen = set()

    @given(genomes(space))
    def collect(genome):
        seen.add((genome.skip_count, genome.pool_count))

    collect()
    assert (2, 0) in seen and (4, 3) in seen
