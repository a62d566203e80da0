"""Search strategies behind one signature, and the registry the command line reads.

A strategy is run as::

    get_strategy(name).run(family, space, evaluate, budget, context=None) -> SearchOutcome

``family`` is a :class:`~deap_cnn.families.Family`, ``space`` its search
space, ``evaluate(genome) -> record`` the evaluation (an evaluator's
``record``, or that of :meth:`Objectives.wrap <deap_cnn.search.objectives.Objectives.wrap>`),
``budget`` a :class:`~deap_cnn.search.steady.Budget` and ``context`` a
:class:`~deap_cnn.search.steady.SearchContext`: the engine, the cache and
its store, the checkpoint, the folder of inherited weights, successive
halving's rungs, the callback, the seed and what only some strategies read.
Every strategy returns a :class:`~deap_cnn.search.steady.SearchOutcome`.

Every strategy but the generational two is a
:class:`~deap_cnn.search.steady.Proposer` subclass on the one ask/tell loop
(:func:`~deap_cnn.search.steady.steady_state`), which gives each of them
engines, the cache, checkpoints and resume, rungs and the one give-up rule.
A new strategy is one such class, in a file of its own: its attributes
(``name``, ``description``, ``inherits_weights``, ``needs_encode``,
``needs_suggest``, ``takes_warmup``) are what this registry, the command
line's help and its checks read. ``ga`` and ``nsga2`` run
:func:`~deap_cnn.search.ga.ea_cnn_ga`, the plain eaSimple-style loop DEAP
users compose themselves.

The strategies registered (``deap-cnn strategies`` lists the same):
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from deap import tools

from . import aging, baselines, local, surrogate  # noqa: F401 - their proposers register by import
from .evaluation import evaluate_population as plain_evaluate_population
from .ga import ea_cnn_ga
from .progress import GenerationProgress
from .steady import (
    STRATEGY_PROPOSERS,
    Budget,
    SearchContext,
    SearchOutcome,
    fitness_stats,
    primary_score,
    run_proposer,
)

__all__ = [
    "Budget",
    "SearchContext",
    "SearchOutcome",
    "StrategyError",
    "Strategy",
    "register_strategy",
    "get_strategy",
    "strategy_names",
    "inheriting_strategies",
    "warmup_strategies",
]


class StrategyError(ValueError):
    """A strategy that does not exist, or does not fit the family or objectives asked for."""


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its ``run`` function and what it supports.

    ``asynchronous``: it runs on the ask/tell loop (successive halving then
    promotes each candidate on its own, through ``context.rungs``);
    ``proposer`` is its :class:`~deap_cnn.search.steady.Proposer` class.
    """

    name: str
    run: Callable
    multi_objective: bool = False
    single_objective: bool = True
    needs_suggest: bool = False
    needs_encode: bool = False
    supports_halving: bool = True
    asynchronous: bool = False
    inherits_weights: bool = False
    takes_warmup: bool = False
    description: str = ""
    proposer: type | None = None

    @classmethod
    def of(cls, kind) -> Strategy:
        """The strategy of a :class:`~deap_cnn.search.steady.Proposer` class, from its attributes."""
        return cls(
            kind.name, partial(run_proposer, kind), needs_suggest=kind.needs_suggest, needs_encode=kind.needs_encode,
            asynchronous=True, inherits_weights=kind.inherits_weights, takes_warmup=kind.takes_warmup,
            description=kind.description, proposer=kind,
        )  # fmt: skip

    def check(self, family, objectives: int, halving: bool = False):
        """Raise :class:`StrategyError` when this strategy cannot run ``family`` with that many objectives."""
        if objectives > 1 and not self.multi_objective:
            raise StrategyError(
                f"strategy {self.name!r} optimises one objective; use --strategy nsga2 for {objectives} objectives"
            )
        if objectives == 1 and not self.single_objective:
            raise StrategyError(
                f"strategy {self.name!r} needs several objectives: add --objectives accuracy parameters"
            )
        if self.needs_suggest and family.suggest is None:
            raise StrategyError(
                f"strategy {self.name!r} needs an Optuna encoding of the genome, which family {family.name!r} "
                "does not have; use --strategy random or ga"
            )
        if self.needs_encode and family.encode is None:
            raise StrategyError(
                f"strategy {self.name!r} needs a numeric encoding of the genome (Family.encode), which family "
                f"{family.name!r} does not have; use --strategy aging or local"
            )
        if halving and not self.supports_halving:
            why = "it ranks several objectives" if self.multi_objective else "it evaluates one candidate at a time"
            raise StrategyError(f"strategy {self.name!r} cannot use successive halving ({why}); drop --halving")


def _generational_toolbox(family, space, evaluate, context):
    toolbox = family.toolbox(space, evaluate, context.map_function, weights=context.weights)
    if context.verbose:
        engine = context.engine
        toolbox.register("progress", partial(GenerationProgress, workers=engine.workers if engine else 1))
    return toolbox


def _start(toolbox, budget, context, halloffame):
    from .checkpoint import start_or_resume

    checkpoint = context.checkpoint
    resume = checkpoint is not None and os.path.exists(checkpoint)
    return start_or_resume(toolbox, budget.population, checkpoint, resume, seed=context.seed, halloffame=halloffame)


def run_ga(family, space, evaluate, budget, context=None) -> SearchOutcome:
    """CNN-GA's loop (:func:`~deap_cnn.search.ga.ea_cnn_ga`) with ``family``'s operators."""
    context = SearchContext() if context is None else context
    toolbox = _generational_toolbox(family, space, evaluate, context)
    population, halloffame, logbook, start_gen = _start(toolbox, budget, context, tools.HallOfFame(5))
    population, logbook = ea_cnn_ga(
        population, toolbox, cxpb=context.cxpb, mutpb=context.mutpb, ngen=budget.generations, stats=fitness_stats(),
        halloffame=halloffame, verbose=context.verbose, cache=context.evaluation_cache(),
        checkpoint=context.checkpoint, start_gen=start_gen, logbook=logbook,
        evaluate_population=context.evaluate_population or plain_evaluate_population, callback=context.callback,
        weights_folder=context.inheritance(),
        fresh_offspring=True,  # a converged population would otherwise stall on cache hits
    )  # fmt: skip
    return SearchOutcome(list(halloffame), logbook, sum(logbook.select("nevals")))


def run_nsga2(family, space, evaluate, budget, context=None) -> SearchOutcome:
    """NSGA-II: the generational loop with ``selNSGA2`` and the crowded dominance tournament."""
    from .nsga2 import sel_dominance_tournament

    context = SearchContext() if context is None else context
    toolbox = _generational_toolbox(family, space, evaluate, context)
    toolbox.register("select", tools.selNSGA2)
    toolbox.register("select_mates", sel_dominance_tournament)
    population, front, logbook, start_gen = _start(toolbox, budget, context, tools.ParetoFront())
    population, logbook = ea_cnn_ga(
        population, toolbox, cxpb=context.cxpb, mutpb=context.mutpb, ngen=budget.generations, stats=fitness_stats(),
        halloffame=front, verbose=context.verbose, cache=context.evaluation_cache(), checkpoint=context.checkpoint,
        start_gen=start_gen, logbook=logbook, callback=context.callback,
    )  # fmt: skip
    best = sorted(front, key=lambda ind: -primary_score(ind))  # best first by the primary objective
    return SearchOutcome(best, logbook, sum(logbook.select("nevals")))


_STRATEGIES: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy, replace: bool = False) -> Strategy:
    """Make ``strategy`` available by name (``deap-cnn search --strategy NAME``).

    A :class:`~deap_cnn.search.steady.Proposer` subclass with a
    ``description`` needs no call: it is registered when its module is imported.
    """
    if strategy.name in _STRATEGIES and not replace and _STRATEGIES[strategy.name] is not strategy:
        raise StrategyError(f"a strategy named {strategy.name!r} is registered already; pass replace=True")
    _STRATEGIES[strategy.name] = strategy
    return strategy


def _registry() -> dict[str, Strategy]:
    """The registered strategies, with every strategy proposer defined so far."""
    for name, kind in STRATEGY_PROPOSERS.items():
        known = _STRATEGIES.get(name)
        if known is None or (known.proposer is not None and known.proposer is not kind):
            _STRATEGIES[name] = Strategy.of(kind)
    return _STRATEGIES


def get_strategy(name: str) -> Strategy:
    """The registered strategy called ``name``; the error lists the names there are."""
    try:
        return _registry()[name]
    except KeyError:
        raise StrategyError(f"unknown strategy {name!r}: choose one of {', '.join(strategy_names())}") from None


def strategy_names() -> list[str]:
    return list(_registry())


def inheriting_strategies() -> tuple:
    """The strategies whose children have parents to inherit trained weights from (``--inherit``)."""
    return tuple(name for name, strategy in _registry().items() if strategy.inherits_weights)


def warmup_strategies() -> tuple:
    """The strategies whose initial individuals ``--proxy-warmup`` picks."""
    return tuple(name for name, strategy in _registry().items() if strategy.takes_warmup)


register_strategy(
    Strategy(
        "ga",
        run_ga,
        inherits_weights=True,
        description="CNN-GA's generational loop with the family's operators",
    )
)
register_strategy(
    Strategy(
        "nsga2",
        run_nsga2,
        multi_objective=True,
        single_objective=False,
        supports_halving=False,
        description="NSGA-II over several --objectives (accuracy and size, say)",
    )
)


def _table() -> str:
    """The docstring's table of strategies, from the registry."""
    rows = [(f"``{name}``", strategy.description) for name, strategy in _registry().items()]
    width = max(len(name) for name, _ in rows)
    rule = "=" * width + " " + "=" * max(len(text) for _, text in rows)
    return "\n".join([rule, *(f"{name:{width}s} {text}" for name, text in rows), rule, ""])


__doc__ += "\n" + _table()
