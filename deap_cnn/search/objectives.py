"""What a search optimises: named objectives of an evaluation record, each maximised or minimised.

An :class:`Objective` is a name, a direction and a function of the
:class:`~deap_cnn.training.settings.EvaluationRecord` an evaluator returns
(plus the value a failed record gets). The built-in ones are registered by
name, and ``deap-cnn search --objectives`` takes those names:

================= ========= =================================================
``accuracy``      maximise  the best validation accuracy over the epochs
``last_accuracy`` maximise  the validation accuracy after the last epoch
``loss``          minimise  the lowest validation loss over the epochs
``parameters``    minimise  the network's (trainable) parameters
``flops``         minimise  the network's forward FLOPs per image
``latency``       minimise  the trained network's measured inference time (ms per batch)
``synflow``,      maximise  a zero-cost proxy's score of the untrained network
``nwot``,                   (:data:`PROXY_NAMES`, ``deap-cnn search --fitness``;
``jacov``,                  the record of a
``snip``,                   :class:`~deap_cnn.training.proxy_evaluator.ProxyEvaluator`
``grad_norm``               carries them)
================= ========= =================================================

:class:`Objectives` is the ordered set a search declares once: it gives DEAP
its ``weights`` and, through :meth:`Objectives.wrap`, the evaluator that
``toolbox.evaluate`` calls, whose records carry the fitness tuple (one value
per objective) and whose ``fingerprint()`` names the objectives, so a
results store never mixes fitness definitions::

    objectives = Objectives("accuracy", "parameters")
    evaluate = objectives.wrap(Evaluator(data, space, settings))
    individual = family.individual(objectives.weights)

The first objective is the primary one: halving, reranking and ``best.json``
rank by it. Your own objective is ``Objective(name, direction, function)``
with a module-level (picklable) ``function(record) -> float``; DEvol's hook
``f(accuracy, loss)`` becomes one with
:func:`~deap_cnn.families.devol.fitness.devol_objective`. Torch-free.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MAXIMISE",
    "MINIMISE",
    "OBJECTIVES",
    "SIZE_OBJECTIVES",
    "PROXY_NAMES",
    "WORST_VALUE",
    "WORST_SIZE",
    "FAILED_LOSS",
    "ObjectiveError",
    "InfeasibleError",
    "Objective",
    "Objectives",
    "ObjectiveEvaluator",
    "register_objective",
    "get_objective",
    "objective_names",
    "check_objectives",
    "objective_weights",
    "MultiObjective",
]

MAXIMISE, MINIMISE = "maximise", "minimise"


#: Beyond any real value: what a failed record gets for an objective that names no worst value of its own.
#: Finite, so sorting, statistics, JSON and SQLite keep working.
WORST_VALUE = 1e18


#: The worst size (parameters, FLOPs): a failure is dominated by every candidate that trained.
WORST_SIZE = WORST_VALUE


#: The loss a failed candidate is scored at: finite and far above any real loss.
FAILED_LOSS = 1e9


class ObjectiveError(ValueError):
    """An unknown objective, objectives that do not fit together, or a value that is not a finite number."""


class InfeasibleError(RuntimeError):
    """No candidate of a search met its constraint (``max_latency``): there is no winner to name."""


@dataclass(frozen=True)
class Objective:
    """One thing a search optimises: ``function(record)``, maximised or minimised.

    Parameters
    ----------
    name:
        What the store, the report and ``--objectives`` call it.
    direction:
        ``"maximise"`` or ``"minimise"``.
    function:
        ``function(record) -> float`` of a record whose status is ``"ok"``; a
        module-level function (SCOOP and Dask workers unpickle it), not a
        lambda. Its values must be finite.
    worst:
        The value of a failed record (out of memory, diverged, broken): no
        real candidate should score worse. ``None``: ``-WORST_VALUE`` when
        maximised, ``WORST_VALUE`` when minimised (pass your own to keep the
        per-generation means readable).
    """

    name: str
    direction: str
    function: Callable
    worst: float | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ObjectiveError(f"an objective's name must be a non-empty string, got {self.name!r}")
        if self.direction not in (MAXIMISE, MINIMISE):
            raise ObjectiveError(
                f"objective {self.name!r}: direction must be {MAXIMISE!r} or {MINIMISE!r}, got {self.direction!r}"
            )
        if not callable(self.function):
            raise ObjectiveError(f"objective {self.name!r}: function must be callable as function(record), got "
                                 f"{self.function!r}")  # fmt: skip
        worst = (-WORST_VALUE if self.direction == MAXIMISE else WORST_VALUE) if self.worst is None else self.worst
        if _finite(worst) is None:
            raise ObjectiveError(f"objective {self.name!r}: worst must be a finite number, got {worst!r}")
        object.__setattr__(self, "worst", _finite(worst))

    @property
    def weight(self) -> float:
        """DEAP's weight: ``1.0`` maximised, ``-1.0`` minimised."""
        return 1.0 if self.direction == MAXIMISE else -1.0

    def value(self, record) -> float:
        """The objective's value of ``record``: :attr:`worst` unless its status is ``"ok"``."""
        if getattr(record, "status", "ok") != "ok":
            return self.worst
        value = self.function(record)
        if _finite(value) is None:
            raise ObjectiveError(
                f"objective {self.name!r} gave {value!r} for {getattr(record, 'genome', 'a record')}: "
                "an objective's value must be a finite number"
            )
        return _finite(value)


def _finite(value):
    """``value`` as a finite float (numpy and torch scalars too), or ``None``."""
    if isinstance(value, (bool, str)):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# --- the built-in objectives ----------------------------------------------------------------------


def _curve(record, field: str, objective: str) -> list:
    values = list(getattr(record, field, None) or ())
    if not values:
        raise ObjectiveError(
            f"objective {objective!r} needs the record's {field}, but {getattr(record, 'genome', 'the record')} "
            f"has none (a table lookup records no loss): choose another objective, such as accuracy"
        )
    return values


def best_val_accuracy(record) -> float:
    """The highest validation accuracy over the epochs."""
    return max(_curve(record, "val_accuracy", "accuracy"))


def last_val_accuracy(record) -> float:
    """The validation accuracy after the last epoch."""
    return _curve(record, "val_accuracy", "last_accuracy")[-1]


def lowest_val_loss(record) -> float:
    """The lowest validation loss over the epochs."""
    return min(_curve(record, "val_loss", "loss"))


def parameter_count(record) -> float:
    """The network's (trainable) parameters."""
    return record.parameters


def flop_count(record) -> float:
    """The network's forward FLOPs per image."""
    return record.flops


def measured_latency(record) -> float:
    """The trained network's measured inference time, milliseconds per batch (``TrainSettings.latency_batch``)."""
    value = getattr(record, "latency_ms", None)
    if value is None:
        raise ObjectiveError(
            f"objective 'latency' needs the record's latency_ms, but {getattr(record, 'genome', 'the record')} has "
            "none: evaluate with TrainSettings(latency_batch=1) (deap-cnn search --objectives ... latency sets it)"
        )
    return value


_BUILT_IN = (
    Objective("accuracy", MAXIMISE, best_val_accuracy, worst=0.0),
    Objective("last_accuracy", MAXIMISE, last_val_accuracy, worst=0.0),
    Objective("loss", MINIMISE, lowest_val_loss, worst=FAILED_LOSS),
    Objective("parameters", MINIMISE, parameter_count, worst=WORST_SIZE),
    Objective("flops", MINIMISE, flop_count, worst=WORST_SIZE),
    Objective("latency", MINIMISE, measured_latency, worst=WORST_SIZE),
)


#: The built-in objectives' names (``--objectives`` takes these and any registered since).
OBJECTIVES = tuple(objective.name for objective in _BUILT_IN)


#: Objectives that measure the network's cost, not how well it learned: never the first objective.
SIZE_OBJECTIVES = ("parameters", "flops", "latency")


_OBJECTIVES: dict[str, Objective] = {objective.name: objective for objective in _BUILT_IN}


#: Zero-cost proxies (:mod:`deap_cnn.training.proxies`), each an objective of a proxy evaluation's record.
PROXY_NAMES = ("synflow", "nwot", "jacov", "snip", "grad_norm")


def _proxy_score(record, name: str) -> float:
    scores = getattr(record, "proxies", None) or {}
    if name not in scores:
        raise ObjectiveError(
            f"objective {name!r} is a zero-cost proxy, but {getattr(record, 'genome', 'the record')} carries no "
            f"{name} score: evaluate with a ProxyEvaluator that computes it (deap-cnn search --fitness {name})"
        )
    return scores[name]


def synflow_score(record) -> float:
    """The record's synflow score (log of the synaptic flow of the untrained network)."""
    return _proxy_score(record, "synflow")


def nwot_score(record) -> float:
    """The record's NASWOT score."""
    return _proxy_score(record, "nwot")


def jacov_score(record) -> float:
    """The record's Jacobian-covariance score."""
    return _proxy_score(record, "jacov")


def snip_score(record) -> float:
    """The record's SNIP score."""
    return _proxy_score(record, "snip")


def grad_norm_score(record) -> float:
    """The record's gradient-norm score."""
    return _proxy_score(record, "grad_norm")


for _function in (synflow_score, nwot_score, jacov_score, snip_score, grad_norm_score):
    _name = _function.__name__.removesuffix("_score")
    _OBJECTIVES[_name] = Objective(_name, MAXIMISE, _function)


def register_objective(objective: Objective, replace: bool = False) -> Objective:
    """Make ``objective`` available by name to :class:`Objectives` and ``--objectives``."""
    if not isinstance(objective, Objective):
        raise ObjectiveError(f"register an Objective(name, direction, function), got {type(objective).__name__}")
    if objective.name in _OBJECTIVES and not replace and _OBJECTIVES[objective.name] != objective:
        raise ObjectiveError(f"an objective named {objective.name!r} is registered already; pass replace=True")
    _OBJECTIVES[objective.name] = objective
    return objective


def get_objective(name) -> Objective:
    """The registered objective called ``name`` (an :class:`Objective` is returned as it is)."""
    if isinstance(name, Objective):
        return name
    try:
        return _OBJECTIVES[name]
    except (KeyError, TypeError):
        raise ObjectiveError(
            f"unknown objective {name!r}: choose from {', '.join(objective_names())}, "
            "or pass your own Objective(name, direction, function)"
        ) from None


def objective_names() -> list[str]:
    """Names of the registered objectives, built-in ones first."""
    return list(_OBJECTIVES)


# --- a search's objectives ------------------------------------------------------------------------


class Objectives:
    """The objectives of one search, in order; the first is the primary one.

    ``Objectives("accuracy")``, ``Objectives("accuracy", "parameters")``,
    ``Objectives(["loss"])`` or with :class:`Objective` instances. Names must
    be distinct, and the first objective must score the trained network (not
    a size: a search for the smallest network alone needs no training).

    ``max_latency`` (milliseconds) is a constraint on any objectives: a
    candidate whose measured latency (``record.latency_ms``) is over it is
    infeasible, with status ``"too_slow"`` and every objective's worst value,
    as a failed training; it is never a winner, and the search goes on.
    """

    def __init__(self, *objectives, max_latency: float | None = None):
        if max_latency is not None and (_finite(max_latency) is None or max_latency <= 0):
            raise ObjectiveError(f"max_latency must be a positive number of milliseconds, got {max_latency!r}")
        self.max_latency = None if max_latency is None else float(max_latency)
        if len(objectives) == 1 and isinstance(objectives[0], (list, tuple, Objectives)):
            objectives = tuple(objectives[0])
        if not objectives:
            raise ObjectiveError("name at least one objective, such as accuracy")
        items = tuple(get_objective(objective) for objective in objectives)
        names = [objective.name for objective in items]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ObjectiveError(
                f"objectives {' '.join(names)}: {' and '.join(repeated)} named twice; name each objective once"
            )
        if names[0] in SIZE_OBJECTIVES:
            example = [n for n in names if n not in SIZE_OBJECTIVES] or ["accuracy"]
            example += [n for n in names if n in SIZE_OBJECTIVES]
            raise ObjectiveError(
                f"objectives {' '.join(names)}: the first, {names[0]}, is a size; the first objective must score "
                f"the trained network (accuracy, last_accuracy, loss or your own), e.g. {' '.join(example)}"
            )
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]

    def __eq__(self, other):
        return isinstance(other, Objectives) and (self.items, self.max_latency) == (other.items, other.max_latency)

    def __hash__(self):
        return hash((self.items, self.max_latency))

    def __repr__(self):
        limit = "" if self.max_latency is None else f", max_latency={self.max_latency:g}"
        names = ", ".join(repr(o.name) if o is _OBJECTIVES.get(o.name) else repr(o) for o in self)
        return f"Objectives({names}{limit})"

    def too_slow(self, record) -> str | None:
        """Why ``record`` breaks the ``max_latency`` constraint, or ``None`` (no limit, or within it)."""
        if self.max_latency is None or getattr(record, "status", "ok") != "ok":
            return None
        latency = getattr(record, "latency_ms", None)
        if latency is None:
            raise ObjectiveError(
                f"max_latency needs the record's latency_ms, but {getattr(record, 'genome', 'the record')} has none: "
                "evaluate with TrainSettings(latency_batch=1) (deap-cnn search --max-latency sets it)"
            )
        if latency > self.max_latency:
            return f"latency {latency:.3g} ms is over the limit of {self.max_latency:g} ms"
        return None

    @property
    def names(self) -> tuple:
        return tuple(objective.name for objective in self.items)

    @property
    def directions(self) -> tuple:
        """``"maximise"`` or ``"minimise"`` per objective."""
        return tuple(objective.direction for objective in self.items)

    @property
    def weights(self) -> tuple:
        """DEAP's fitness weights: ``1.0`` per maximised objective, ``-1.0`` per minimised one."""
        return tuple(objective.weight for objective in self.items)

    def values(self, record) -> tuple:
        """The fitness of ``record``: one value per objective (each objective's worst for a failed record)."""
        return tuple(objective.value(record) for objective in self.items)

    def wrap(self, evaluator) -> ObjectiveEvaluator:
        """``evaluator`` scored by these objectives: what ``toolbox.evaluate`` calls."""
        return ObjectiveEvaluator(evaluator, self)


def check_objectives(objectives) -> tuple:
    """The names of ``objectives`` (names or :class:`Objective` objects), or an :class:`ObjectiveError`."""
    return Objectives(objectives).names


def objective_weights(objectives) -> tuple:
    """DEAP weights of ``objectives``: maximised ones ``1.0``, minimised ones ``-1.0``."""
    return Objectives(objectives).weights


def _identity(objective: Objective):
    """What identifies an objective in a fingerprint: a built-in one its name, any other all it is made of."""
    if objective in _BUILT_IN:
        return objective.name  # as MultiObjective wrote it: its stores keep their fingerprints
    function = objective.function
    name = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', None) or repr(function)}"
    return [objective.name, objective.direction, name, objective.worst]


#: ``TrainSettings.fitness`` values that a built-in objective reproduces exactly (``neg_val_loss`` is ``loss`` negated).
_SAME_AS_FITNESS = {"best_val_acc": _BUILT_IN[0], "last_val_acc": _BUILT_IN[1]}


def _native_objective(evaluator):
    """The built-in objective the evaluator's own fitness already is, or ``None``.

    An evaluator without :class:`~deap_cnn.training.settings.TrainSettings`
    (a table lookup) reports the validation accuracy as its fitness.
    """
    return _SAME_AS_FITNESS.get(getattr(getattr(evaluator, "settings", None), "fitness", "best_val_acc"))


class ObjectiveEvaluator:
    """An evaluator whose records carry the objectives' fitness; made by :meth:`Objectives.wrap`.

    ``record(genome)`` trains and scores ``genome`` with ``evaluator`` (an
    :class:`~deap_cnn.training.evaluator.Evaluator`, a table lookup, or
    anything with ``record(genome)`` returning an
    :class:`~deap_cnn.training.settings.EvaluationRecord`) and returns the
    record with ``fitness`` replaced by :meth:`Objectives.values`, so it
    still fills every column of the results store. Calling it returns that
    fitness tuple, as an evaluator does. It pickles small (its evaluator
    and its objectives), so workers receive it.
    """

    def __init__(self, evaluator, objectives):
        if not callable(getattr(evaluator, "record", None)):
            raise TypeError(f"evaluator must have a record(genome) method, got {type(evaluator).__name__}")
        self.evaluator = evaluator
        self.objectives = objectives if isinstance(objectives, Objectives) else Objectives(objectives)

    def __repr__(self):
        return f"{self.objectives!r}.wrap({self.evaluator!r})"

    @property
    def weights(self) -> tuple:
        return self.objectives.weights

    def record(self, genome):
        """Train and score ``genome``; the evaluator's record with the objectives' fitness."""
        record = self.evaluator.record(genome)
        reason = self.objectives.too_slow(record)
        if reason is not None:  # infeasible: scored as a failure, so never chosen, and the store says why
            record.status, record.error = "too_slow", reason
        record.fitness = self.objectives.values(record)
        return record

    def __call__(self, genome) -> tuple:
        return self.record(genome).fitness

    def fingerprint(self) -> str:
        """The evaluator's fingerprint extended by the objectives: a store never mixes fitness definitions."""
        inner = self.evaluator.fingerprint() if callable(getattr(self.evaluator, "fingerprint", None)) else ""
        limit = self.objectives.max_latency
        if self.objectives.items == (_native_objective(self.evaluator),) and limit is None:
            return inner  # the evaluator's own fitness: stores written before objectives existed still match
        identity = [inner, [_identity(objective) for objective in self.objectives]]
        if limit is not None:  # a limit changes which candidates score: its store is its own
            identity.append({"max_latency": limit})
        text = json.dumps(identity)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- deprecated spellings -------------------------------------------------------------------------


def _own_fitness(record) -> float:
    """The evaluator's own scalar fitness: what MultiObjective called accuracy."""
    return record.fitness[0]


class MultiObjective(ObjectiveEvaluator):
    """Deprecated: ``Objectives("accuracy", "parameters").wrap(evaluator)`` instead.

    Scores as before: ``"accuracy"`` is the evaluator's own scalar fitness
    (the best validation accuracy with the default settings), the sizes are
    the record's, and calling it returns the record.
    """

    def __init__(self, evaluator, objectives=("accuracy", "parameters")):
        warnings.warn(
            f"MultiObjective(evaluator, {tuple(objectives)!r}) is deprecated: use "
            f"Objectives{tuple(objectives)!r}.wrap(evaluator) from deap_cnn.search.objectives",
            DeprecationWarning,
            stacklevel=2,
        )
        names = Objectives(objectives).names
        own = Objective("accuracy", MAXIMISE, _own_fitness, worst=0.0)
        super().__init__(evaluator, Objectives([own if name == "accuracy" else name for name in names]))

    def __repr__(self):
        return f"MultiObjective({self.evaluator!r}, objectives={self.objectives.names!r})"

    __call__ = ObjectiveEvaluator.record

    def fingerprint(self) -> str:
        inner = self.evaluator.fingerprint() if callable(getattr(self.evaluator, "fingerprint", None)) else ""
        text = json.dumps([inner, list(self.objectives.names)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]
