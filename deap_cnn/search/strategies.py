"""Search strategies behind one signature, and the registry the command line reads.

A strategy is a function::

    strategy(family, space, evaluate, budget, store=None, checkpoint=None, **options) -> SearchOutcome

``family`` is a :class:`~deap_cnn.families.Family`, ``space`` its search
space, ``evaluate(genome) -> record`` the evaluation (an evaluator's
``record``, or that of :meth:`Objectives.wrap <deap_cnn.search.objectives.Objectives.wrap>`),
``budget`` a :class:`Budget`, ``store`` a
:class:`~deap_cnn.runs.store.ResultsStore` (the persistent evaluation cache:
what it holds is never trained again) and ``checkpoint`` a path the
generational strategies save their state to after every generation and
continue from when it exists. The options every strategy takes:
``map_function`` (how evaluations are spread over workers), ``weights``
(fitness weights, :attr:`Objectives.weights <deap_cnn.search.objectives.Objectives.weights>`;
more than one value for multi-objective runs),
``evaluate_population`` (e.g. a
:class:`~deap_cnn.search.halving.SuccessiveHalving`), ``cache`` (an
:class:`~deap_cnn.search.cache.EvaluationCache` to use instead of one over
``store``), ``callback`` (called after every generation or batch:
``callback(generation, population, halloffame, logbook)``), ``engine`` (the
open :mod:`deap_cnn.engines` engine, for strategies that submit work
themselves), ``seed``, ``verbose``, ``cxpb`` and ``mutpb``.

============= ================================================================
``ga``        CNN-GA's generational loop with the family's operators
``nsga2``     the same loop with NSGA-II's selections (multi-objective)
``random``    random search over the family's genomes
``tpe``       Optuna's TPE over the family's encoding (families with ``suggest``)
``aging``     aging (regularized) evolution, asynchronous: a child per finished evaluation
``local``     local search with restarts, asynchronous (:mod:`~deap_cnn.search.local`)
``surrogate`` aging evolution whose children a model chooses (families with ``encode``)
============= ================================================================

``engine`` (an engine of :mod:`deap_cnn.engines`; ``None``: a serial one)
is what the asynchronous strategies (``aging``, ``local``, ``surrogate``,
:mod:`deap_cnn.search.steady`) submit to; ``rungs`` (a
:class:`~deap_cnn.search.steady.Rungs`) gives them successive halving's
fidelities. ``inherit=True``
(``ga`` and ``aging``) makes children start from their parent's trained
weights, kept in the folder ``weights_folder`` names (see
:mod:`deap_cnn.search.inheritance`); ``sample_size`` is aging evolution's
tournament size and ``cheaper`` its preference for the cheaper of two good
parents (:func:`~deap_cnn.search.aging.breed_aging_child`); ``warmup`` (a :class:`~deap_cnn.search.warmup.Warmup`,
``aging`` and ``surrogate``) picks their initial individuals from many
random genomes pre-scored by something cheap, a zero-cost proxy say;
``features`` (``surrogate``) are scorers ``f(genome) -> float`` whose values
extend the model's encoding (:class:`~deap_cnn.search.surrogate.ExtendedEncoding`).

Random search and TPE need no checkpoint: seeded, they propose the same
genomes again after an interruption, and the store answers those at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from deap import tools

from ..families.registry import as_individual
from .baselines import random_search, tpe_search
from .cache import EvaluationCache
from .evaluation import evaluate_population as plain_evaluate_population
from .ga import ea_cnn_ga
from .progress import GenerationProgress

__all__ = [
    "Budget",
    "SearchOutcome",
    "StrategyError",
    "Strategy",
    "register_strategy",
    "get_strategy",
    "strategy_names",
    "fitness_stats",
]


class StrategyError(ValueError):
    """A strategy that does not exist, or does not fit the family or objectives asked for."""


@dataclass(frozen=True)
class Budget:
    """What a search may spend.

    Generational strategies run ``population`` individuals for
    ``generations`` generations after the initial one; the others train
    ``trainings`` candidates (default ``population * (generations + 1)``,
    the most a generational run of that size trains) in batches of
    ``population``, or stop after ``seconds``.
    """

    population: int = 20
    generations: int = 20
    trainings: int | None = None
    seconds: float | None = None

    @property
    def training_count(self) -> int:
        return self.trainings if self.trainings is not None else self.population * (self.generations + 1)


@dataclass
class SearchOutcome:
    """What a strategy returns: the best individuals (best first; the Pareto front for several objectives)."""

    best: list
    logbook: tools.Logbook
    trainings: int
    stopped: str = "generations"
    history: list = field(default_factory=list)


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its function and what it supports."""

    name: str
    run: Callable
    multi_objective: bool = False
    single_objective: bool = True
    needs_suggest: bool = False
    needs_encode: bool = False
    supports_halving: bool = True
    asynchronous: bool = False
    description: str = ""

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


def fitness_stats(objectives: int = 1) -> tools.Statistics:
    """Per-generation max, min and mean of the fitness (of the first value for several objectives)."""
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("max", max)
    stats.register("min", min)
    stats.register("mean", lambda values: sum(values) / len(values))
    return stats


def _cache(store, options):
    """The evaluation cache: ``options["cache"]`` (a subclass that also logs, say), else one over ``store``."""
    cache = options.get("cache")
    return cache if cache is not None else EvaluationCache(store)  # an empty cache is falsy


def _progress(options):
    """A progress factory for ``toolbox.progress`` when the run is verbose (else ``None``)."""
    if not options.get("verbose"):
        return None
    engine = options.get("engine")
    return partial(GenerationProgress, workers=engine.workers if engine is not None else 1)


def _generational_toolbox(family, space, evaluate, options, weights):
    toolbox = family.toolbox(space, evaluate, options.get("map_function", map), weights=weights)
    progress = _progress(options)
    if progress is not None:
        toolbox.register("progress", progress)
    return toolbox


def _start(toolbox, budget, checkpoint, seed, halloffame):
    from ..runs.checkpoint import start_or_resume

    resume = checkpoint is not None and os.path.exists(checkpoint)
    return start_or_resume(toolbox, budget.population, checkpoint, resume, seed=seed, halloffame=halloffame)


def _weights_folder(options):
    """The :class:`~deap_cnn.search.inheritance.WeightsFolder` when ``options`` ask for inheritance, else ``None``."""
    if not options.get("inherit"):
        return None
    from .inheritance import WeightsFolder

    if not options.get("weights_folder"):
        raise StrategyError(
            "inherit=True needs weights_folder=PATH, the folder the evaluator saves trained weights to "
            "(deap-cnn search --inherit uses RUN/weights)"
        )
    return WeightsFolder(options["weights_folder"])


def run_ga(family, space, evaluate, budget, store=None, checkpoint=None, **options) -> SearchOutcome:
    """CNN-GA's loop (:func:`~deap_cnn.search.ga.ea_cnn_ga`) with ``family``'s operators."""
    weights = options.get("weights", (1.0,))
    toolbox = _generational_toolbox(family, space, evaluate, options, weights)
    population, halloffame, logbook, start_gen = _start(
        toolbox, budget, checkpoint, options.get("seed"), tools.HallOfFame(5)
    )
    population, logbook = ea_cnn_ga(
        population,
        toolbox,
        cxpb=options.get("cxpb", 0.9),
        mutpb=options.get("mutpb", 0.2),
        ngen=budget.generations,
        stats=fitness_stats(),
        halloffame=halloffame,
        verbose=options.get("verbose", False),
        cache=_cache(store, options),
        checkpoint=checkpoint,
        start_gen=start_gen,
        logbook=logbook,
        evaluate_population=options.get("evaluate_population") or plain_evaluate_population,
        callback=options.get("callback"),
        weights_folder=_weights_folder(options),
        fresh_offspring=True,  # a converged population would otherwise stall on cache hits
    )
    return SearchOutcome(list(halloffame), logbook, sum(logbook.select("nevals")))


def run_nsga2(family, space, evaluate, budget, store=None, checkpoint=None, **options) -> SearchOutcome:
    """NSGA-II: the generational loop with ``selNSGA2`` and the crowded dominance tournament."""
    from .nsga2 import sel_dominance_tournament

    weights = options.get("weights")
    toolbox = _generational_toolbox(family, space, evaluate, options, weights)
    toolbox.register("select", tools.selNSGA2)
    toolbox.register("select_mates", sel_dominance_tournament)
    population, front, logbook, start_gen = _start(
        toolbox, budget, checkpoint, options.get("seed"), tools.ParetoFront()
    )
    population, logbook = ea_cnn_ga(
        population,
        toolbox,
        cxpb=options.get("cxpb", 0.9),
        mutpb=options.get("mutpb", 0.2),
        ngen=budget.generations,
        stats=fitness_stats(len(weights)),
        halloffame=front,
        verbose=options.get("verbose", False),
        cache=_cache(store, options),
        checkpoint=checkpoint,
        start_gen=start_gen,
        logbook=logbook,
        callback=options.get("callback"),
    )
    best = sorted(front, key=lambda ind: -weights[0] * ind.fitness.values[0])  # best first by the primary objective
    return SearchOutcome(best, logbook, sum(logbook.select("nevals")))


def _batch_logbook(history, population, sign):
    """One logbook row per batch of ``population`` evaluations, as the generational strategies log."""
    logbook = tools.Logbook()
    logbook.header = ["gen", "nevals", "max", "min", "mean", "best_so_far"]
    best = None
    for gen, start in enumerate(range(0, len(history), population)):
        values = [fitness[0] for _, fitness in history[start : start + population]]
        top = max(values, key=lambda v: sign * v)
        best = top if best is None else max(best, top, key=lambda v: sign * v)
        logbook.record(
            gen=gen,
            nevals=len(values),
            max=max(values),
            min=min(values),
            mean=sum(values) / len(values),
            best_so_far=best,
        )
    return logbook


def _baseline(search, family, space, evaluate, budget, store, **options) -> SearchOutcome:
    individual = family.individual(options.get("weights", (1.0,)))
    extra = {"init": family.init} if search is random_search else {"suggest": family.suggest}
    result = search(
        space,
        evaluate,
        budget.training_count,
        seconds=budget.seconds,
        cache=_cache(store, options),
        batch_size=budget.population,
        map_function=options.get("map_function", map),
        seed=options.get("seed"),
        evaluate_population=options.get("evaluate_population"),
        individual=individual,
        progress=_progress(options),
        callback=options.get("callback"),
        **extra,
    )
    sign = 1.0 if individual().fitness.weights[0] > 0 else -1.0
    ranked = sorted(result.history, key=lambda item: -sign * item[1][0])
    best = []
    for text, fitness in ranked[:5]:
        ind = as_individual(individual, space.parse(text))
        ind.fitness.values = fitness
        best.append(ind)
    return SearchOutcome(
        best, _batch_logbook(result.history, budget.population, sign), result.trainings, result.stopped, result.history
    )


def run_random(family, space, evaluate, budget, store=None, checkpoint=None, **options) -> SearchOutcome:
    """Random search: ``budget.training_count`` genomes drawn by the family's ``init``, a population at a time."""
    return _baseline(random_search, family, space, evaluate, budget, store, **options)


def run_tpe(family, space, evaluate, budget, store=None, checkpoint=None, **options) -> SearchOutcome:
    """TPE (Optuna) over the family's encoding, a population of trials at a time."""
    return _baseline(tpe_search, family, space, evaluate, budget, store, **options)


def _steady_options(family, space, evaluate, budget, store, checkpoint, options) -> dict:
    """What the steady-state strategies pass to :func:`~deap_cnn.search.steady.steady_state`, toolbox included."""
    weights = options.get("weights", (1.0,))
    return dict(
        toolbox=family.toolbox(space, evaluate, options.get("map_function", map), weights=weights),
        trainings=budget.training_count,
        engine=options.get("engine"),
        seconds=budget.seconds,
        cache=_cache(store, options),
        stats=fitness_stats(),
        checkpoint=checkpoint,
        seed=options.get("seed"),
        weights_folder=_weights_folder(options),
        verbose=options.get("verbose", False),
        callback=options.get("callback"),
        rungs=options.get("rungs"),
    )


def _steady_outcome(run) -> SearchOutcome:
    return SearchOutcome(list(run.halloffame), run.logbook, run.trained, run.stopped, list(run.history))


def run_aging(family, space, evaluate, budget, store=None, checkpoint=None, **options) -> SearchOutcome:
    """Aging evolution (:func:`~deap_cnn.search.aging.aging_evolution`) until ``budget.training_count`` trainings.

    The population is ``budget.population``; ``sample_size`` defaults to
    half of it (at least 2); ``budget.seconds`` stops breeding early.
    """
    from .aging import aging_evolution

    steady = _steady_options(family, space, evaluate, budget, store, checkpoint, options)
    _, _, run = aging_evolution(
        steady.pop("toolbox"), budget.population, steady.pop("trainings"), sample_size=options.get("sample_size"),
        warmup=options.get("warmup"), cheaper=options.get("cheaper", 0.0), **steady,
    )  # fmt: skip
    return _steady_outcome(run)


def run_local(family, space, evaluate, budget, store=None, checkpoint=None, **options) -> SearchOutcome:
    """Local search with restarts (:mod:`deap_cnn.search.local`): ``budget.population`` random genomes per start."""
    from .local import LocalSearchProposer
    from .steady import steady_state

    neighbours = partial(family.neighbours, space=space) if family.neighbours is not None else None
    proposer = LocalSearchProposer(budget.population, neighbours)
    steady = _steady_options(family, space, evaluate, budget, store, checkpoint, options)
    return _steady_outcome(steady_state(proposer, row_size=budget.population, **steady))


def run_surrogate(family, space, evaluate, budget, store=None, checkpoint=None, **options) -> SearchOutcome:
    """Surrogate-assisted aging evolution (:mod:`deap_cnn.search.surrogate`) over the family's ``encode``."""
    from . import surrogate
    from .steady import steady_state
    from .surrogate import SurrogateProposer

    encode = partial(family.encode, space=space)
    if options.get("features"):  # more numbers per genome for the model: proxy scores, say
        encode = surrogate.ExtendedEncoding(encode, options["features"])
    proposer = SurrogateProposer(
        budget.population, options.get("sample_size"), encode=encode,
        candidates=options.get("candidates") or surrogate.DEFAULT_CANDIDATES, warmup=options.get("warmup"),
    )  # fmt: skip
    steady = _steady_options(family, space, evaluate, budget, store, checkpoint, options)
    return _steady_outcome(steady_state(proposer, row_size=budget.population, **steady))


_STRATEGIES: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy, replace: bool = False) -> Strategy:
    """Make ``strategy`` available by name (``deap-cnn search --strategy NAME``)."""
    if strategy.name in _STRATEGIES and not replace and _STRATEGIES[strategy.name] is not strategy:
        raise StrategyError(f"a strategy named {strategy.name!r} is registered already; pass replace=True")
    _STRATEGIES[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    """The registered strategy called ``name``; the error lists the names there are."""
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise StrategyError(f"unknown strategy {name!r}: choose one of {', '.join(strategy_names())}") from None


def strategy_names() -> list[str]:
    return list(_STRATEGIES)


register_strategy(Strategy("ga", run_ga, description="CNN-GA's generational loop with the family's operators"))
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
register_strategy(Strategy("random", run_random, description="random search at the same number of trainings"))
register_strategy(Strategy("tpe", run_tpe, needs_suggest=True, description="Optuna's TPE over the genome encoding"))
register_strategy(
    Strategy(
        "aging",
        run_aging,
        asynchronous=True,
        description="aging (regularized) evolution: a child as soon as any evaluation finishes",
    )
)
register_strategy(
    Strategy(
        "local",
        run_local,
        asynchronous=True,
        description="local search: first-improvement climbs through one-edit neighbours, random restarts",
    )
)
register_strategy(
    Strategy(
        "surrogate",
        run_surrogate,
        needs_encode=True,
        asynchronous=True,
        description="surrogate-assisted aging evolution: a model picks which of several mutants to train",
    )
)
