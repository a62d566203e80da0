"""The contract every strategy keeps with every family: one suite over strategy_names() x family_names().

A new strategy or family joins it by registering: no hand-kept list of pairs.
The evaluation is a lookup table made up on the spot (a fitness per genome
text), so a run costs the strategy's own work only. A pair the strategy
refuses (TPE without the family's Optuna encoding, say) must refuse it with
a :class:`~deap_cnn.search.strategies.StrategyError`, and is skipped.
"""

from __future__ import annotations

import functools
import zlib

import pytest

from deap_cnn.families import family_names, get_family
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.strategies import Budget, SearchContext, StrategyError, get_strategy, strategy_names

#: A small space per family: (input shape, classes, options).
SPACES = {
    "cnn-ga": ((1, 28, 28), 10, {"widths": (4, 8), "max_skip_units": 2}),
    "devol": ((1, 28, 28), 10, {"widths": (4, 8), "units": (8,)}),
    "dense": ((64,), 10, {"units": (8, 16)}),
    "transfer": ((3, 32, 32), 10, {"backbone": "resnet18", "allow_random": True}),
    "nats": ((3, 32, 32), 10, {}),
}
BUDGET = Budget(population=4, generations=2)  # 12 trainings; the generational strategies: 3 generations of 4
ENDINGS = {"trainings", "generations", "exhausted"}


class Killed(BaseException):
    """The process dies mid-run (not an evaluation failure: nothing catches it)."""


class Lookup:
    """A made-up table: a fitness per genome text (two objectives for a multi-objective strategy)."""

    def __init__(self, objectives=1, kill_after=None, constant=False):
        self.objectives = objectives
        self.kill_after = kill_after
        self.constant = constant
        self.calls = []

    def __call__(self, genome):
        if self.kill_after is not None and len(self.calls) >= self.kill_after:
            raise Killed
        key = str(genome)
        self.calls.append(key)
        if self.constant:
            return (0.5,) * self.objectives
        value = zlib.crc32(key.encode()) % 10007 / 10007
        return (value, zlib.crc32(key[::-1].encode()) % 101)[: self.objectives]


@functools.cache
def space_of(family_name):
    base = family_name.split("+")[0]
    return get_family(family_name).space(*SPACES[base])


def pair(strategy_name, family_name):
    """The strategy, family, space and objective count of a pair; skips a pair the strategy refuses."""
    strategy, family = get_strategy(strategy_name), get_family(family_name)
    objectives = 1 if strategy.single_objective else 2
    try:
        strategy.check(family, objectives)
    except StrategyError as refused:
        pytest.skip(f"refused, as it should be: {refused}")
    return strategy, family, space_of(family_name), objectives


def run(strategy_name, family_name, evaluate=None, **context):
    strategy, family, space, objectives = pair(strategy_name, family_name)
    evaluate = Lookup(objectives) if evaluate is None else evaluate
    context.setdefault("seed", 3)
    if context.get("store") is None:
        context.setdefault("cache", EvaluationCache())
    outcome = strategy.run(family, space, evaluate, BUDGET, SearchContext(weights=(1.0, -1.0)[:objectives], **context))
    return outcome, evaluate


def picks(outcome) -> list:
    return [(str(ind), tuple(ind.fitness.values)) for ind in outcome.best]


PAIRS = pytest.mark.parametrize(
    "strategy_name, family_name",
    [(strategy, family) for strategy in strategy_names() for family in family_names()],
)


@PAIRS
def test_the_budget_is_respected_and_every_training_is_new(strategy_name, family_name):
    outcome, lookup = run(strategy_name, family_name)
    assert outcome.stopped in ENDINGS
    assert 0 < outcome.trainings <= BUDGET.training_count
    assert len(lookup.calls) == len(set(lookup.calls)) == outcome.trainings  # a repeat is a free cache hit
    assert outcome.best and all(ind.fitness.valid for ind in outcome.best)
    assert {str(ind) for ind in outcome.best} <= set(lookup.calls)


@PAIRS
def test_seeded_runs_repeat(strategy_name, family_name):
    first, first_lookup = run(strategy_name, family_name)
    second, second_lookup = run(strategy_name, family_name)
    assert first_lookup.calls == second_lookup.calls
    assert picks(first) == picks(second) and first.history == second.history


@PAIRS
def test_a_resumed_run_equals_an_uninterrupted_one(strategy_name, family_name, tmp_path):
    whole, whole_lookup = run(strategy_name, family_name, store=ResultsStore(tmp_path / "whole.sqlite"))
    objectives = 1 if get_strategy(strategy_name).single_objective else 2
    store, checkpoint = tmp_path / "cut.sqlite", str(tmp_path / "checkpoint.json")
    killed = Lookup(objectives, kill_after=len(whole_lookup.calls) // 2)
    with pytest.raises(Killed):
        run(strategy_name, family_name, killed, store=ResultsStore(store), checkpoint=checkpoint)
    resumed, resumed_lookup = run(strategy_name, family_name, store=ResultsStore(store), checkpoint=checkpoint)
    assert killed.calls + resumed_lookup.calls == whole_lookup.calls  # nothing lost, nothing trained twice
    assert picks(resumed) == picks(whole)


@PAIRS
def test_cache_hits_are_free(strategy_name, family_name, tmp_path):
    with ResultsStore(tmp_path / "results.sqlite") as store:
        first, first_lookup = run(strategy_name, family_name, store=store)
        again, again_lookup = run(strategy_name, family_name, store=store)  # same seed: the same first proposals
    assert not set(first_lookup.calls) & set(again_lookup.calls)  # what the store holds is never trained again
    assert again.trainings == len(again_lookup.calls) <= BUDGET.training_count


@PAIRS
def test_a_converged_population_still_proposes_or_stops_cleanly(strategy_name, family_name):
    objectives = 1 if get_strategy(strategy_name).single_objective else 2
    outcome, lookup = run(strategy_name, family_name, Lookup(objectives, constant=True))
    assert outcome.stopped in ENDINGS and outcome.best
    assert len(lookup.calls) == len(set(lookup.calls)) == outcome.trainings <= BUDGET.training_count
