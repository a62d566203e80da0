"""The asynchronous loop the steady-state strategies share: propose, evaluate on any free worker, tell.

A steady-state strategy is a *proposer* (:class:`Proposer`): it says which
individual to evaluate next and hears each result; this loop does the rest
for all of them alike. Whenever a worker is free it asks for a proposal and
submits it (an engine's ``submit`` and ``as_completed``,
:mod:`deap_cnn.engines`, ``engine.workers`` evaluations in flight at once),
so no worker waits for a generation to end. Every finished evaluation goes
into the cache (and its store) at once and is followed by an atomic
checkpoint: the proposer's state, the evaluations in flight, the history and
the random states. A resume submits the in-flight individuals again; those
whose records reached the store before the kill come back as cache hits, so
nothing is lost or trained twice, and a seeded serial run resumed after a
kill ends as the uninterrupted run does.

The budget is ``trainings``: candidates actually trained. A proposal whose
genome the cache holds is a free cache hit (a proposer avoids them with
``known``), and one identical to an evaluation still in flight waits for
its result instead of training again. A proposer that keeps proposing only
known genomes has exhausted what it can reach: after
:data:`MAX_FRUITLESS_PROPOSALS` in a row the search stops (``"exhausted"``).

With ``rungs`` (:class:`Rungs`, asynchronous successive halving after Li et
al. 2020) a proposal is first evaluated cheaply, at the lowest rung; a
result that ranks in the best ``eta`` fraction of its rung's results so far
is promoted, evaluated again at the next rung, and only a result that is
final (at the top rung, or not promoted) is told to the proposer. So a noisy
cheap score never makes a parent or the pick on its own: strategies take
their parents, and the search its pick, from the top rung.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from deap import tools

from ..training.lineage import evaluation_key
from .cache import EvaluationCache
from .evaluation import _evaluate_one, store_record
from .inheritance import set_parent

__all__ = [
    "MAX_FRUITLESS_PROPOSALS",
    "Proposer",
    "STRATEGY_PROPOSERS",
    "Budget",
    "SearchContext",
    "SearchOutcome",
    "Rungs",
    "SteadyRun",
    "steady_state",
    "run_proposer",
    "primary_score",
    "mutant",
    "fitness_stats",
]

#: Proposals in a row that bring nothing new (cache hits) before a search counts as exhausted.
MAX_FRUITLESS_PROPOSALS = 500


class Proposer(ABC):
    """What a strategy decides; :func:`steady_state` does the rest. A strategy is one such class.

    A proposer goes into every checkpoint (:mod:`deap_cnn.search.codec`), so
    its whole state lives in its attributes (data, individuals; a function it
    holds is taken from the resuming run's own proposer) and it draws its
    random numbers from :mod:`random` (whose state the checkpoint keeps) or
    keeps its own generator's state in an attribute.

    ``propose(toolbox, known)`` returns ``(individual, parent)``: an
    individual to evaluate (fitness invalid) and the individual it was made
    from (its weights are inherited with ``--inherit``), or ``None`` for the
    parent of a random one; or ``None`` when it must wait for results first
    (a batch strategy waits until its whole batch is told).
    ``known(genome)`` says whether the genome was evaluated or is in flight.

    ``tell(individual, top)`` hears each final result (``individual.fitness`` is
    set; with rungs, ``individual.rung`` says which, and ``top`` whether it
    is the top rung's).

    ``members()`` are the individuals the strategy holds (the logbook's
    statistics; with inheritance their weights are kept).

    A subclass that sets :attr:`description` and implements :meth:`build`
    is a strategy: :mod:`deap_cnn.search.strategies` registers it by
    :attr:`name` when its module is imported, and the command line's
    ``--strategy`` help, ``deap-cnn strategies`` and the rules of
    ``--inherit`` read its attributes.
    """

    #: The strategy's name (``--strategy NAME``) and its checkpoints' format.
    name = "proposer"
    #: One line for ``deap-cnn strategies`` and ``--strategy``'s help; a proposer without one is no strategy.
    description = ""
    #: Whether children have a parent whose trained weights ``--inherit`` gives them.
    inherits_weights = False
    #: Whether it needs the family's numeric encoding (``Family.encode``).
    needs_encode = False
    #: Whether it needs the family's Optuna encoding (``Family.suggest``).
    needs_suggest = False
    #: Whether ``--proxy-warmup`` picks its initial individuals.
    takes_warmup = False

    @classmethod
    def build(cls, family, space, budget, context) -> Proposer:
        """The proposer of a run of ``family`` over ``space`` under ``budget`` (a :class:`Budget`) and ``context``."""
        raise NotImplementedError(f"{cls.__qualname__} is not a strategy: it has no build()")

    @abstractmethod
    def propose(self, toolbox, known):
        """``(individual, parent)`` to evaluate next, or ``None`` to wait for results."""

    @abstractmethod
    def tell(self, individual, top=True):
        """Hear one final result."""

    def members(self) -> list:
        return []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("description"):  # a strategy: registered by name, the latest class of a name wins
            STRATEGY_PROPOSERS[cls.name] = cls


#: Proposer classes that are strategies (they set ``description``), by name, in the order they were defined.
STRATEGY_PROPOSERS: dict = {}


@dataclass(frozen=True)
class Budget:
    """What a search may spend.

    Generational strategies run ``population`` individuals for
    ``generations`` generations after the initial one; the others train
    ``trainings`` candidates (default ``population * (generations + 1)``,
    the most a generational run of that size trains), logging a row every
    ``population`` results, or stop after ``seconds``.
    """

    population: int = 20
    generations: int = 20
    trainings: int | None = None
    seconds: float | None = None

    @property
    def training_count(self) -> int:
        return self.trainings if self.trainings is not None else self.population * (self.generations + 1)


@dataclass
class SearchContext:
    """Everything a strategy runs with besides the family, space, evaluation and budget.

    ``weights`` are the fitness weights (more than one for several
    objectives); ``engine`` an open :mod:`deap_cnn.engines` engine (``None``:
    a serial one) and ``map_function`` the generational loop's map;
    ``cache`` an :class:`~deap_cnn.search.cache.EvaluationCache` (else one
    over ``store``, a results store: what it holds is never trained again);
    ``checkpoint`` the path the run saves its state to and resumes from;
    ``weights_folder`` the folder of trained weights children inherit
    (inheritance is on when it is set; :mod:`deap_cnn.search.inheritance`);
    ``rungs`` successive halving's fidelities (:class:`Rungs`) and
    ``evaluate_population`` the generational loop's (a
    :class:`~deap_cnn.search.halving.SuccessiveHalving`); ``callback`` runs
    after every generation or result; ``seed`` seeds the run.

    What only some strategies read: ``sample_size`` and ``cheaper`` (aging
    evolution's tournament, :func:`~deap_cnn.search.aging.breed_aging_child`),
    ``warmup`` (a :class:`~deap_cnn.search.warmup.Warmup`), ``features`` and
    ``candidates`` (the surrogate's), ``cxpb`` and ``mutpb`` (the
    generational loop's).
    """

    weights: tuple = (1.0,)
    engine: object = None
    map_function: Callable = map
    cache: EvaluationCache | None = None
    store: object = None
    checkpoint: str | None = None
    weights_folder: str | None = None
    rungs: Rungs | None = None
    evaluate_population: Callable | None = None
    callback: Callable | None = None
    seed: int | None = None
    verbose: bool = False
    sample_size: int | None = None
    cheaper: float = 0.0
    warmup: object = None
    features: list | None = None
    candidates: int | None = None
    cxpb: float = 0.9
    mutpb: float = 0.2

    def evaluation_cache(self) -> EvaluationCache:
        """``cache`` (a subclass that also logs, say), else one over ``store``."""
        return self.cache if self.cache is not None else EvaluationCache(self.store)  # an empty cache is falsy

    def inheritance(self):
        """The :class:`~deap_cnn.search.inheritance.WeightsFolder` of ``weights_folder``, or ``None``."""
        if not self.weights_folder:
            return None
        from .inheritance import WeightsFolder

        return WeightsFolder(self.weights_folder)


@dataclass
class SearchOutcome:
    """What a strategy returns: the best individuals (best first; the Pareto front for several objectives).

    ``trainings`` counts candidates trained (the budget's unit); ``stopped``
    says why the search ended: ``"trainings"``, ``"generations"``,
    ``"seconds"`` or ``"exhausted"`` (:data:`MAX_FRUITLESS_PROPOSALS`
    proposals in a row brought nothing new); ``history`` holds ``(evaluation
    key, fitness)`` of every final result in order.
    """

    best: list
    logbook: tools.Logbook
    trainings: int
    stopped: str = "generations"
    history: list = field(default_factory=list)


def mutant(toolbox, parent):
    """A clone of ``parent`` that ``toolbox.mutate`` changed, its fitness deleted: the strategies' child."""
    child = toolbox.clone(parent)
    (child,) = toolbox.mutate(child)
    del child.fitness.values
    return child


def primary_score(individual) -> float:
    """The first objective, signed so that larger is better: what ranks single-objective results."""
    return individual.fitness.weights[0] * individual.fitness.values[0]


def fitness_stats() -> tools.Statistics:
    """Max, min and mean of the fitness (of its first value for several objectives), for the logbook."""
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("max", max)
    stats.register("min", min)
    stats.register("mean", lambda values: sum(values) / len(values))
    return stats


def run_proposer(kind, family, space, evaluate, budget, context=None) -> SearchOutcome:
    """Run the strategy ``kind`` (a :class:`Proposer` subclass) on the loop: what every such strategy's ``run`` is."""
    context = SearchContext() if context is None else context
    proposer = kind.build(family, space, budget, context)
    toolbox = family.toolbox(space, evaluate, context.map_function, weights=context.weights)
    run = steady_state(
        proposer, toolbox, budget.training_count, engine=context.engine, seconds=budget.seconds,
        cache=context.evaluation_cache(), stats=fitness_stats(), checkpoint=context.checkpoint, seed=context.seed,
        weights_folder=context.inheritance(), verbose=context.verbose, callback=context.callback,
        rungs=context.rungs, row_size=budget.population,
    )  # fmt: skip
    return SearchOutcome(list(run.halloffame), run.logbook, run.trained, run.stopped, list(run.history))


@dataclass
class Rungs:
    """Fidelities of asynchronous successive halving: one evaluate function per rung, cheapest first.

    ``evaluate[-1]`` is the full evaluation (the run's own; its cache is the
    run's), the others cheaper copies (e.g.
    :func:`~deap_cnn.search.halving.rung_evaluator`); ``caches`` one
    :class:`~deap_cnn.search.cache.EvaluationCache` per lower rung (a
    fingerprint each, so fidelities never mix); ``eta`` the fraction
    promoted; ``epochs`` each rung's epochs (for the messages).
    """

    evaluate: list
    caches: list
    eta: float = 1 / 3
    epochs: list = field(default_factory=list)

    def __post_init__(self):
        if len(self.evaluate) < 2 or len(self.caches) != len(self.evaluate) - 1:
            raise ValueError("rungs need two or more evaluate functions and one cache per lower rung")
        if isinstance(self.eta, bool) or not isinstance(self.eta, (int, float)) or not 0 < self.eta < 1:
            raise ValueError(f"eta (the fraction promoted to the next rung) must be in (0, 1), got {self.eta!r}")

    @property
    def top(self) -> int:
        return len(self.evaluate) - 1

    def close(self):
        """Close the lower rungs' results stores, if any."""
        for cache in self.caches:
            if cache.store is not None:
                cache.store.close()


class SteadyRun:
    """The state of one steady-state run: all of it goes into every checkpoint."""

    def __init__(self, proposer, halloffame):
        self.proposer = proposer
        self.in_flight = []  # individuals submitted and not yet finished, in submission order
        self.training = set()  # (rung, evaluation key) sent to train, by this process or one killed before it
        self.history = []  # (evaluation key, fitness) of every final result, in order
        self.trained = self.hits = self.failed = self.promoted = 0
        self.fruitless = 0  # proposals in a row that were cache hits
        self.rung_scores = []  # per lower rung: sign x fitness of every result there, for promotion
        self.halloffame = halloffame
        self.logbook = None
        self.seconds = 0.0
        self.row_started = (0, 0, 0)  # trained, hits, failed when the current logbook row began
        self.finished = 0  # final results told

    def state(self) -> dict:
        return dict(vars(self))

    @classmethod
    def from_state(cls, state):
        run = cls(state["proposer"], state["halloffame"])
        vars(run).update(state)
        return run


def _load(checkpoint, fmt):
    from .checkpoint import CheckpointError, load_checkpoint, restore_random_state

    state = load_checkpoint(checkpoint)
    if state.get("strategy") != fmt:
        raise CheckpointError(
            f"{checkpoint} was written by another strategy ({state.get('strategy') or 'a generational one'}), "
            f"not {fmt.split('/')[1]}: resume it with its own strategy"
        )
    restore_random_state(state["random_state"])
    return SteadyRun.from_state(state["run"])


def checkpoint_format(proposer) -> str:
    return f"deap_cnn.steady/{proposer.name}/1"


def steady_state(
    proposer,
    toolbox,
    trainings,
    engine=None,
    seconds=None,
    cache=None,
    halloffame=None,
    stats=None,
    checkpoint=None,
    seed=None,
    weights_folder=None,
    verbose=False,
    callback=None,
    rungs=None,
    row_size=10,
):
    """Evaluate what ``proposer`` proposes until ``trainings`` candidates trained (or ``seconds`` passed).

    ``toolbox`` needs ``individual``, ``clone``, ``mutate`` and ``evaluate``
    (a family's toolbox has them); ``engine`` gives ``submit``,
    ``as_completed`` and ``workers`` (default: a serial engine).
    ``weights_folder`` (a :class:`~deap_cnn.search.inheritance.WeightsFolder`)
    makes children start from their parent's trained weights; ``rungs`` (a
    :class:`Rungs`) evaluates cheaply first and promotes the best.
    ``callback(evaluations, members, halloffame, logbook)`` runs after every
    final result (a run refreshes its report there); with ``verbose`` each
    trained candidate gets one line on stderr. A checkpoint written by
    another strategy is refused.

    Returns the :class:`SteadyRun`: ``history``, ``trained``, ``hits``,
    ``halloffame`` (the best of the top rung), ``logbook`` (one row per
    ``row_size`` final results: ``gen``, ``nevals``, ``cache_hits``,
    ``failed``, ``seconds`` and the members' ``stats``) and ``stopped``
    (``"trainings"``, ``"seconds"`` or ``"exhausted"``).
    """
    from .checkpoint import save_checkpoint
    from .codec import adopt_live

    if engine is None:
        from ..engines import make_engine

        engine = make_engine("serial")
    cache = EvaluationCache() if cache is None else cache
    fmt = checkpoint_format(proposer)
    if checkpoint is not None and os.path.exists(checkpoint):
        run = _load(checkpoint, fmt)
        adopt_live(run.proposer, proposer)  # functions (encode, neighbours) are not saved: this run's own
    else:
        if seed is not None:
            random.seed(seed)
        run = SteadyRun(proposer, tools.HallOfFame(5) if halloffame is None else halloffame)
    proposer = run.proposer
    if run.logbook is None:
        run.logbook = tools.Logbook()
        run.logbook.header = ["gen", "nevals", "cache_hits", "failed", "seconds"] + (stats.fields if stats else [])
    top = rungs.top if rungs is not None else 0
    run.rung_scores = run.rung_scores or [[] for _ in range(top)]
    caches = (rungs.caches if rungs is not None else []) + [cache]
    evaluate = [partial(_evaluate_one, function) for function in (rungs.evaluate[:-1] if rungs else [])]
    evaluate.append(partial(_evaluate_one, toolbox.evaluate))
    started = time.perf_counter() - run.seconds
    workers = max(1, int(getattr(engine, "workers", 1)))

    def save():
        if checkpoint is not None:
            run.seconds = time.perf_counter() - started
            save_checkpoint(checkpoint, strategy=fmt, run=run.state())

    def out_of_time():
        return seconds is not None and time.perf_counter() - started >= seconds

    futures = {}  # future -> individual, for this process's submissions
    ready = deque()  # (individual, record) finished without training: cache hits
    submitted = set()  # ids of in-flight individuals already sent (a resume sends them all again)
    waiting = {}  # (rung, evaluation key) in training -> later individuals of that key, answered when it finishes

    def rung_of(individual):
        return getattr(individual, "rung", top)

    def known(genome):
        key = evaluation_key(genome)
        return any(c.get(key) is not None for c in caches) or any(key == evaluation_key(i) for i in run.in_flight)

    def send(individual):
        rung, key = rung_of(individual), evaluation_key(individual)
        record = caches[rung].get(key)
        if record is not None:
            ready.append((individual, record))
        elif (rung, key) in waiting:  # an identical evaluation is running: share its result, do not train again
            waiting[rung, key].append(individual)
        else:
            futures[engine.submit(evaluate[rung], individual)] = individual
            waiting[rung, key] = []
            run.training.add((rung, key))
        submitted.add(id(individual))

    def charged():
        """Candidates trained or training at the lowest rung: what the budget counts."""
        return run.trained + sum(1 for rung, _ in run.training if rung == 0)

    def propose():
        proposal = proposer.propose(toolbox, known)
        if proposal is None:
            return None
        child, parent = proposal
        if weights_folder is not None and parent is not None:
            set_parent(child, parent, weights_folder)
        if rungs is not None:
            child.rung = 0
        return child

    stopped = "trainings"
    while True:
        sent_now = False
        while (
            len(run.in_flight) < workers
            and charged() < trainings
            and run.fruitless < MAX_FRUITLESS_PROPOSALS
            and not out_of_time()
        ):
            child = propose()
            if child is None:
                break
            run.in_flight.append(child)
            send(child)
            sent_now = True
            if ready:
                break  # a cache hit: tell it before proposing again (it may change the proposer's mind)
        if sent_now and not ready:
            # The children and the random state after proposing them: a resume sends the same ones. Also before
            # the first result: a process killed after storing it and before its next checkpoint would otherwise
            # leave a row that a rerun from the seed takes for a cache hit, not a training (issue 23).
            save()
        for individual in list(run.in_flight):
            if id(individual) not in submitted:
                send(individual)
        if ready:
            individual, record = ready.popleft()
            hit = True
        elif futures:
            future = next(iter(engine.as_completed(list(futures))))
            individual = futures.pop(future)
            record, worker = future.result()
            hit = False
        else:
            if out_of_time():
                stopped = "seconds"
            elif charged() < trainings:  # nothing new to propose: too many cache hits in a row
                stopped = "exhausted"
            break
        rung, key = rung_of(individual), evaluation_key(individual)
        if not hit:
            if caches[rung].get(key) is None:  # an identical evaluation finished first: one row each
                store_record(caches[rung], key, record, generation=run.finished // row_size, worker=worker)
            ready.extend((other, record) for other in waiting.pop((rung, key), ()))
        if (rung, key) in run.training:  # trained here, or stored by a process killed before its checkpoint
            run.training.discard((rung, key))
            run.trained += rung == 0
            run.failed += record.get("status", "ok") != "ok"
            run.fruitless = 0
            hit = False
        else:
            run.hits += 1
            run.fruitless += 1
        individual.fitness.values = tuple(record["fitness"])
        individual.cost = record.get("flops") or 0  # what it cost to train: cost-aware parents read it
        del run.in_flight[next(i for i, other in enumerate(run.in_flight) if other is individual)]
        submitted.discard(id(individual))
        score = primary_score(individual)  # larger is better
        if rung < top and _promote(run.rung_scores[rung], score, rungs.eta, record):
            individual.rung = rung + 1
            del individual.fitness.values
            run.in_flight.insert(0, individual)  # before new proposals: the next free worker takes it
            run.promoted += not hit
            save()
            if verbose and not hit:
                _report(individual, record, f"promoted to rung {rung + 1}", run, trainings)
            continue
        run.finished += 1
        run.history.append((key, individual.fitness.values))
        proposer.tell(individual, rung == top)
        if rung == top:
            run.halloffame.update([individual])
        if run.finished % row_size == 0:
            _log_row(run, stats, started, row_size)
            if verbose:
                print(run.logbook.stream, flush=True)
        if weights_folder is not None:
            weights_folder.keep_only(list(proposer.members()) + list(run.halloffame), run.in_flight)
        save()
        if verbose and not hit:
            _report(individual, record, "", run, trainings)
        if callback is not None:
            callback(len(run.history), proposer.members(), run.halloffame, run.logbook)
    if run.row_started != (run.trained, run.hits, run.failed):  # a last, partial row
        _log_row(run, stats, started, row_size)
        save()
    run.stopped = stopped
    return run


def _promote(scores, score, eta, record) -> bool:
    """Record a lower rung's result; whether it ranks in the best ``eta`` fraction of the rung so far."""
    if record.get("status", "ok") != "ok":
        return False  # a failure is never trained longer
    scores.append(score)
    better = sum(other > score for other in scores)
    return better < math.ceil(eta * len(scores))


def _report(individual, record, note, run, trainings):
    fitness = ", ".join(f"{value:.4g}" for value in individual.fitness.values)
    status = record.get("status", "ok")
    detail = "; ".join(part for part in (note, "" if status == "ok" else status) if part)
    print(
        f"evaluation {run.trained}/{trainings} {evaluation_key(individual)}: fitness {fitness}"
        f"{' (' + detail + ')' if detail else ''}",
        file=sys.stderr,
        flush=True,
    )


def _log_row(run, stats, started, row_size):
    """One logbook row for the results since the last row, with the members' statistics."""
    members = [m for m in run.proposer.members() if m.fitness.valid]
    record = stats.compile(members) if stats and members else {}
    trained, hits, failed = run.row_started
    run.logbook.record(
        gen=(run.finished - 1) // row_size,
        nevals=run.trained - trained,
        cache_hits=run.hits - hits,
        failed=run.failed - failed,
        seconds=round(time.perf_counter() - started, 3),
        **record,
    )
    run.row_started = (run.trained, run.hits, run.failed)
