"""Baselines for the genetic search: random search and TPE, under the same evaluator, cache and budget.

Whether the genetic search is worth having depends on what simpler methods
find for the same compute. The three methods here share everything but the
way they propose architectures:

- :func:`random_search` draws genomes with :func:`~deap_cnn.random_genome`,
  the GA's own initialiser, so it samples exactly the space the GA starts from;
- :func:`tpe_search` lets Optuna's TPE sampler propose them, through the
  encoding documented at :func:`suggest_genome` (always decoded to a genome
  valid in the space);
- :func:`ga_search` runs :func:`~deap_cnn.search.ga.ea_cnn_ga` generation by
  generation until the budget is spent.

Each evaluates batches through an ``evaluate_population``-compatible function
(:func:`deap_cnn.search.evaluation.evaluate_population` by default, or
:class:`deap_cnn.search.halving.SuccessiveHalving`), with the same evaluator and an
:class:`~deap_cnn.search.cache.EvaluationCache` (with a
:class:`~deap_cnn.runs.store.ResultsStore` behind it if you pass one), and stops
at a budget of candidate trainings and, optionally, of seconds. A
candidate training is one architecture trained for the first time: cache hits
and genomes proposed again cost nothing and do not count. Every batch is cut
to the trainings left, so no method trains more than ``budget``
architectures; the seconds budget is checked between batches (a batch under
way finishes). Each returns a :class:`SearchResult`.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

from deap import base, tools

from ..families.cnn_ga.genome import Genome
from ..families.cnn_ga.operators import init_genome
from ..families.cnn_ga.suggest import suggest_genome
from ..families.registry import as_individual, get_family, individual_type
from .cache import EvaluationCache
from .evaluation import evaluate_population as default_evaluate_population
from .ga import ea_cnn_ga

__all__ = [
    "SearchResult",
    "random_search",
    "tpe_search",
    "ga_search",
]

#: Proposals in a row that bring nothing new before a search calls its space exhausted.
MAX_FRUITLESS_DRAWS = 500


#: Generations in a row that train nothing new before the GA calls its search exhausted.
MAX_FRUITLESS_GENERATIONS = 50


@dataclass
class SearchResult:
    """What one search found and what it spent.

    ``trainings`` counts candidate trainings (architectures trained for the
    first time: the budget's unit); ``cache_hits`` the proposals that cost
    nothing (found in the cache, or proposed again); ``stopped`` says why the
    search ended: ``"budget"``, ``"seconds"``, ``"exhausted"`` (no new
    architecture found in many proposals) or ``"generations"``.
    ``history`` holds ``(genome, fitness)`` of each distinct architecture in
    the order it was first scored (with successive halving, a genome the GA
    scores again in a later generation keeps its latest fitness).
    """

    method: str
    best_genome: str | None
    best_fitness: tuple | None
    trainings: int
    cache_hits: int
    failed: int
    seconds: float
    stopped: str
    history: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "best_genome": self.best_genome,
            "best_fitness": None if self.best_fitness is None else list(self.best_fitness),
            "trainings": self.trainings,
            "cache_hits": self.cache_hits,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
        }


class _Budget:
    """Candidate trainings and seconds left; shared bookkeeping of the three methods."""

    def __init__(self, trainings, seconds=None):
        if isinstance(trainings, bool) or not isinstance(trainings, int) or trainings < 1:
            raise ValueError(f"budget must be an integer >= 1 (candidate trainings), got {trainings!r}")
        if seconds is not None and (not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0):
            raise ValueError(f"seconds must be None or a positive number, got {seconds!r}")
        self.trainings = trainings
        self.seconds = seconds
        self.started = time.perf_counter()
        self.used = 0
        self.hits = 0
        self.failed = 0

    @property
    def left(self) -> int:
        return self.trainings - self.used

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def reason_to_stop(self):
        """``"budget"`` or ``"seconds"`` once spent, else ``None``."""
        if self.used >= self.trainings:
            return "budget"
        if self.seconds is not None and self.elapsed() >= self.seconds:
            return "seconds"
        return None


def _individual_type(individual):
    return individual if individual is not None else individual_type(Genome, (1.0,))


def _sign(individual) -> float:
    return 1.0 if individual().fitness.weights[0] > 0 else -1.0


def _best(history, sign):
    if not history:
        return None, None
    genome, fitness = max(history, key=lambda item: sign * item[1][0])
    return genome, tuple(fitness)


def _evaluation_toolbox(evaluate, map_function, progress=None) -> base.Toolbox:
    toolbox = base.Toolbox()
    toolbox.register("evaluate", evaluate)
    toolbox.register("map", map_function)
    if progress is not None:
        toolbox.register("progress", progress)
    return toolbox


def _evaluate_new(genomes, individual, toolbox, cache, evaluate_population, budget, batch_index):
    """Score ``genomes`` (all new to the search) as one batch; return ``{genome text: fitness}``."""
    individuals = [genome if hasattr(genome, "fitness") else as_individual(individual, genome) for genome in genomes]
    trained, hits, failed = evaluate_population(individuals, toolbox, cache, generation=batch_index)
    budget.used += trained
    budget.hits += hits
    budget.failed += failed
    return {str(ind): tuple(ind.fitness.values) for ind in individuals}


def _setup(batch_size, budget, seconds, individual, cache, evaluate_population, evaluate, map_function, progress=None):
    """What random search and TPE share before their first batch, with the defaults filled in."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    individual = _individual_type(individual)
    return (
        _Budget(budget, seconds),
        individual,
        _sign(individual),
        EvaluationCache() if cache is None else cache,
        evaluate_population or default_evaluate_population,
        _evaluation_toolbox(evaluate, map_function, progress),
    )


def _run_batches(draw, batch_size, budget, individual, toolbox, cache, evaluate_population, callback, tell=None):
    """The loop random search and TPE share: draw a batch of new genomes, score it, record it, until the budget ends.

    ``draw(want, seen)`` returns up to ``want`` distinct genomes not in
    ``seen`` (``{text: fitness}`` of everything scored so far), an empty list
    when it finds none (the space counts as exhausted); ``tell(seen)``, when
    given, runs after each batch is scored. Returns ``(history, stopped)``.
    """
    seen, history = {}, []
    batch_index = 0
    while (stopped := budget.reason_to_stop()) is None:
        batch = draw(min(batch_size, budget.left), seen)
        if not batch:
            stopped = "exhausted"
            break
        scored = _evaluate_new(batch, individual, toolbox, cache, evaluate_population, budget, batch_index)
        for key, fitness in scored.items():
            seen[key] = fitness
            history.append((key, fitness))
        if tell is not None:
            tell(seen)
        if callback is not None:
            callback(batch_index, None, None, None)
        batch_index += 1
    return history, stopped


def random_search(
    space,
    evaluate,
    budget,
    seconds=None,
    cache=None,
    batch_size=1,
    map_function=map,
    seed=None,
    evaluate_population=None,
    individual=None,
    init=init_genome,
    progress=None,
    callback=None,
) -> SearchResult:
    """Random search: genomes drawn by ``init`` (a family's, CNN-GA's by default), scored in batches of ``batch_size``.

    ``evaluate`` is what the GA's toolbox gets (an evaluator's ``record`` or
    the evaluator); ``map_function`` spreads a batch over workers (give
    ``batch_size`` at least the worker count). A genome drawn again is a free
    cache hit; after :data:`MAX_FRUITLESS_DRAWS` draws in a row with nothing
    new, the space counts as exhausted. ``seed`` seeds a private
    :class:`random.Random`.
    """
    budget, individual, sign, cache, evaluate_population, toolbox = _setup(
        batch_size, budget, seconds, individual, cache, evaluate_population, evaluate, map_function, progress
    )
    rng = random.Random(seed)

    def draw(want, seen):
        batch, keys, fruitless = [], set(), 0
        while len(batch) < want and fruitless < MAX_FRUITLESS_DRAWS:
            genome = init(individual, space, rng=rng)
            key = str(genome)
            if key in seen or key in keys:
                fruitless += 1
                budget.hits += 1
                continue
            fruitless = 0
            batch.append(genome)
            keys.add(key)
        return batch

    history, stopped = _run_batches(draw, batch_size, budget, individual, toolbox, cache, evaluate_population, callback)
    genome, fitness = _best(history, sign)
    return SearchResult(
        "random", genome, fitness, budget.used, budget.hits, budget.failed, budget.elapsed(), stopped, history
    )


def tpe_search(
    space,
    evaluate,
    budget,
    seconds=None,
    cache=None,
    batch_size=1,
    map_function=map,
    seed=None,
    evaluate_population=None,
    individual=None,
    n_startup_trials=None,
    suggest=suggest_genome,
    progress=None,
    callback=None,
) -> SearchResult:
    """TPE (Optuna's ``TPESampler``) over a family's genome encoding (``suggest``; CNN-GA's by default).

    Trials are asked ``batch_size`` at a time (the sampler's constant liar
    keeps a batch from proposing one point over and over), scored as one
    batch, and told their fitness. A trial whose genome was scored before is
    told that fitness at once, as a free cache hit. ``n_startup_trials``
    random trials come first (default ``min(10, max(2, budget // 3))``:
    Optuna's 10, fewer for small budgets so that TPE gets to model at all).
    Needs ``optuna`` (an install requirement of deap_cnn).
    """
    import optuna

    budget, individual, sign, cache, evaluate_population, toolbox = _setup(
        batch_size, budget, seconds, individual, cache, evaluate_population, evaluate, map_function, progress
    )
    if n_startup_trials is None:
        n_startup_trials = min(10, max(2, budget.trainings // 3))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, constant_liar=True)
    study = optuna.create_study(direction="maximize" if sign > 0 else "minimize", sampler=sampler)
    pending = []  # (trial, genome) of the batch being drawn, told once the batch is scored

    def draw(want, seen):
        pending.clear()
        fruitless = 0
        while len(pending) < want and fruitless < MAX_FRUITLESS_DRAWS:
            trial = study.ask()
            genome = suggest(trial, space)
            key = str(genome)
            if key in seen:
                study.tell(trial, seen[key][0])
                fruitless += 1
                budget.hits += 1
            elif any(key == str(g) for _, g in pending):
                pending.append((trial, genome))  # told with its twin after the batch; trains once
                budget.hits += 1
            else:
                fruitless = 0
                pending.append((trial, genome))
        return list({str(g): g for _, g in pending}.values())

    def tell(seen):
        for trial, genome in pending:
            study.tell(trial, seen[str(genome)][0])

    history, stopped = _run_batches(
        draw, batch_size, budget, individual, toolbox, cache, evaluate_population, callback, tell
    )
    genome, fitness = _best(history, sign)
    return SearchResult(
        "tpe", genome, fitness, budget.used, budget.hits, budget.failed, budget.elapsed(), stopped, history
    )


class _BudgetedEvaluation:
    """Wraps an ``evaluate_population`` function so that a generation trains at most the trainings left.

    New architectures beyond the budget (in the order they appear) are not
    trained and not cached: they get the worst possible fitness (infinitely
    bad) and so lose every selection. Everything scored is logged in
    ``history``.
    """

    def __init__(self, inner, budget, sign):
        self.inner = inner
        self.budget = budget
        self.sign = sign
        self.scores = {}  # genome text -> latest fitness, in the order first scored

    def _known(self, key, cache):
        known = getattr(self.inner, "known", None)
        return known(key) if callable(known) else cache.get(key) is not None

    def __call__(self, individuals, toolbox, cache=None, generation=None):
        cache = EvaluationCache() if cache is None else cache
        invalid = [ind for ind in individuals if not ind.fitness.valid]
        new = list(dict.fromkeys(str(ind) for ind in invalid if not self._known(str(ind), cache)))
        over = set(new[max(0, self.budget.left) :])
        skipped = [ind for ind in invalid if str(ind) in over]
        for ind in skipped:
            ind.fitness.values = (-self.sign * math.inf,)
        trained, hits, failed = self.inner([ind for ind in invalid if str(ind) not in over], toolbox, cache, generation)
        self.budget.used += trained
        self.budget.hits += hits
        self.budget.failed += failed
        for ind in invalid:
            if str(ind) not in over:
                self.scores[str(ind)] = tuple(ind.fitness.values)
        return trained, hits, failed

    @property
    def history(self) -> list:
        """``(genome, fitness)`` per architecture scored, first-scored first, with its latest fitness."""
        return list(self.scores.items())


def ga_search(
    space,
    evaluate,
    budget,
    seconds=None,
    cache=None,
    population_size=8,
    cxpb=0.9,
    mutpb=0.2,
    map_function=map,
    seed=None,
    evaluate_population=None,
    individual=None,
    max_generations=None,
    family=None,
) -> SearchResult:
    """CNN-GA (:func:`~deap_cnn.search.ga.ea_cnn_ga`, published operators) until the budget is spent.

    The loop runs one generation per call (``start_gen = ngen = g``) and
    stops before a generation once the trainings or seconds are spent; the
    generation that reaches the budget trains only the trainings left (its
    other new offspring are not trained and lose selection). After
    :data:`MAX_FRUITLESS_GENERATIONS` generations in a row without a new
    architecture the search is ``"exhausted"``. DEAP's loop
    draws from the :mod:`random` module, so ``seed`` (when given) seeds it.
    ``max_generations`` caps the generations after the initial one.
    """
    if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 2:
        raise ValueError(f"population_size must be an integer >= 2, got {population_size!r}")
    budget = _Budget(budget, seconds)
    individual = _individual_type(individual)
    sign = _sign(individual)
    cache = EvaluationCache() if cache is None else cache
    wrapped = _BudgetedEvaluation(evaluate_population or default_evaluate_population, budget, sign)
    if seed is not None:
        random.seed(seed)
    family = get_family(family or "cnn-ga")
    toolbox = family.toolbox(space, evaluate, map_function, weights=individual().fitness.weights)
    toolbox.register("individual", family.init, individual, space)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    population = toolbox.population(n=population_size)
    halloffame, logbook = tools.HallOfFame(1), None
    generation, stopped, fruitless = 0, None, 0
    while True:
        stopped = budget.reason_to_stop()
        if stopped:
            break
        if max_generations is not None and generation > max_generations:
            stopped = "generations"
            break
        if fruitless >= MAX_FRUITLESS_GENERATIONS:
            stopped = "exhausted"
            break
        used_before = budget.used
        population, logbook = ea_cnn_ga(
            population,
            toolbox,
            cxpb=cxpb,
            mutpb=mutpb,
            ngen=generation,
            start_gen=generation,
            halloffame=halloffame,
            verbose=False,
            cache=cache,
            logbook=logbook,
            evaluate_population=wrapped,
        )
        fruitless = fruitless + 1 if budget.used == used_before else 0
        generation += 1
    genome, fitness = _best(wrapped.history, sign)
    return SearchResult(
        "ga", genome, fitness, budget.used, budget.hits, budget.failed, budget.elapsed(), stopped, wrapped.history
    )
