"""Cheaper evaluation: successive halving over the candidates of one generation.

Most candidates of a generation lose selection, and a short training already
tells most losers apart from the winners. Successive halving trains every
new candidate of a batch at the lowest rung (few epochs), keeps the better
fraction ``eta`` of them and trains those at the next rung (more epochs), and
so on up to the full epochs. The losers of each rung keep the fitness of the
last rung they reached.

:class:`SuccessiveHalving` has :func:`~deap_cnn.search.evaluation.evaluate_population`'s
signature and return value, so it plugs into the loop and into the
baselines unchanged::

    halving = SuccessiveHalving(evaluator, eta=1 / 3, store=partial(ResultsStore, "results.sqlite"))
    ea_cnn_ga(population, toolbox, ngen=10, evaluate_population=halving)

Each rung is its own evaluator, built with ``dataclasses.replace(settings,
epochs=...)``, so its fingerprint (the cache key) differs from every other
rung's and a 1-epoch fitness is never served as a 3-epoch one. By default
every rung trains from scratch (the schedule depends on the total epochs, so
a longer run is not the shorter one continued): with rungs ``(1, 3)`` and
``eta=1/3`` a batch costs about ``n + n/3 * 3 = 2n`` epochs instead of ``3n``.

**Continued training** (``continue_training=True``, ``deap-cnn search
--halving --halving-continue``): every rung follows the top rung's
learning-rate schedule (``TrainSettings.schedule_epochs``) and stops after
its own epochs, saving model, optimiser, schedule and batch-order state; a
promoted candidate goes on from that state and trains only the extra
epochs. Continuing is then exactly training longer (bit for bit on CPU), and
with rungs ``(1, 3)`` a batch costs ``n + n/3 * 2`` epochs. The price: a
low rung's fitness is measured mid-schedule, at a high learning rate, where
a from-scratch short run would have annealed; it ranks candidates, it is not
their final score. The states live in ``state_dir`` and are deleted when the
batch is done.

**Comparability caveat.** The fitness of a candidate stopped early is its
validation accuracy after fewer epochs, and is usually lower than what full
training would give; across rungs the numbers are not on the same scale.
So that promotion order is never reversed by that scale (a 1-epoch number
beating a 3-epoch one by chance), a candidate stopped at a rung gets
``min(its accuracy, just below the lowest fitness of any candidate promoted
past that rung)``: promoted candidates always rank above non-promoted ones.
The store keeps every rung's raw record (its ``epochs`` column says how far
a candidate was trained): ``SELECT genome, MAX(epochs) FROM evaluations GROUP
BY genome``. Parents carried over from an earlier generation keep the
fitness of the rung they reached then; the ranking is fair only within a
batch.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import shutil
import tempfile

from deap import base

from .cache import EvaluationCache
from .evaluation import evaluate_population
from .objectives import ObjectiveEvaluator

__all__ = ["halving_rungs", "rung_evaluator", "SuccessiveHalving", "async_rungs"]


def halving_rungs(max_epochs: int, eta: float, min_epochs: int = 1) -> tuple:
    """Epochs per rung, ascending up to ``max_epochs``: ``max_epochs * eta**k`` rounded, at least ``min_epochs``.

    ``halving_rungs(3, 1/3) == (1, 3)``, ``halving_rungs(4, 1/2) == (1, 2, 4)``,
    ``halving_rungs(10, 1/3) == (1, 3, 10)``. Growing the epochs by ``1/eta`` per
    rung while keeping the fraction ``eta`` spends about the same epochs on
    every rung.
    """
    _check_eta(eta)
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise ValueError(f"max_epochs must be an integer >= 1, got {max_epochs!r}")
    if isinstance(min_epochs, bool) or not isinstance(min_epochs, int) or not 1 <= min_epochs <= max_epochs:
        raise ValueError(f"min_epochs must be an integer in [1, max_epochs={max_epochs}], got {min_epochs!r}")
    rungs = {max_epochs}
    epochs = float(max_epochs)
    while epochs * eta >= min_epochs - 0.5:
        epochs *= eta
        rungs.add(max(min_epochs, round(epochs)))
        if round(epochs) <= min_epochs:
            break
    return tuple(sorted(rungs))


def _check_eta(eta):
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 < eta < 1:
        raise ValueError(f"eta (the fraction promoted to the next rung) must be a number in (0, 1), got {eta!r}")


def rung_evaluator(evaluator, epochs: int, schedule_epochs=None, state_dir=None, continue_from=None):
    """A shallow copy of ``evaluator`` whose ``settings`` train for ``epochs``.

    Works for :class:`~deap_cnn.training.evaluator.Evaluator` and any evaluator whose
    ``settings`` is a dataclass with an ``epochs`` field; the copy shares the
    data description, space, device and builder (cheap to pickle, no data
    reloaded). For continued training, ``schedule_epochs`` is the top rung's
    epochs, ``state_dir`` the folder of training states and ``continue_from``
    the previous rung's epochs (an :class:`~deap_cnn.training.evaluator.Evaluator`'s
    arguments of those names). An evaluator wrapped by objectives
    (:meth:`~deap_cnn.search.objectives.Objectives.wrap`) gives the wrapped
    rung evaluator, scored by the same objectives.
    """
    if isinstance(evaluator, ObjectiveEvaluator):
        inner = rung_evaluator(evaluator.evaluator, epochs, schedule_epochs, state_dir, continue_from)
        return evaluator.objectives.wrap(inner)
    settings = _settings_of(evaluator)
    clone = copy.copy(evaluator)
    clone.settings = dataclasses.replace(settings, epochs=epochs)
    if state_dir is not None:
        if not hasattr(evaluator, "state_dir"):
            raise TypeError(
                f"continued training needs an evaluator that saves its training state (an Evaluator); "
                f"{type(evaluator).__name__} does not: use continue_training=False"
            )
        clone.settings = dataclasses.replace(clone.settings, schedule_epochs=schedule_epochs)
        clone.state_dir, clone.continue_from = str(state_dir), continue_from
    return clone


def _settings_of(evaluator):
    if isinstance(evaluator, ObjectiveEvaluator):
        evaluator = evaluator.evaluator
    settings = getattr(evaluator, "settings", None)
    if not dataclasses.is_dataclass(settings) or "epochs" not in {f.name for f in dataclasses.fields(settings)}:
        raise TypeError(
            f"successive halving needs an evaluator whose settings (a dataclass with an 'epochs' field, "
            f"like TrainSettings) it can copy per rung; got {type(evaluator).__name__} with settings {settings!r}"
        )
    return settings


def _fingerprint(evaluator) -> str:
    if callable(getattr(evaluator, "fingerprint", None)):
        return evaluator.fingerprint()
    return evaluator.settings.fingerprint()


class SuccessiveHalving:
    """Population-level successive halving, usable wherever ``evaluate_population`` is.

    Parameters
    ----------
    evaluator:
        The full-fidelity evaluator (an :class:`~deap_cnn.training.evaluator.Evaluator`):
        its ``settings.epochs`` is the top rung unless ``rungs`` says otherwise.
    rungs:
        Epochs per rung, strictly increasing (default :func:`halving_rungs`
        of the evaluator's epochs and ``eta``).
    eta:
        Fraction of a rung's candidates promoted to the next, rounded up
        (1/2, 1/3, ...). Failed candidates are never promoted.
    store:
        ``store(fingerprint=...)`` opens a results store, e.g.
        ``functools.partial(ResultsStore, path)``: every rung's records go there, each
        under its rung evaluator's fingerprint (the store's ``epochs`` column
        is the rung's). ``None`` keeps the records in memory.
    continue_training:
        Promoted candidates go on from their previous rung's training state
        and train only the extra epochs (see the module's notes).
    state_dir:
        Folder for those training states (default: a temporary folder,
        removed by :meth:`close`). A run folder keeps them across a resume.

    Notes
    -----
    Call it as ``halving(individuals, toolbox, cache=None, generation=None)``:
    every individual with an invalid fitness gets one; returns ``(trained,
    cache_hits, failed)`` like :func:`~deap_cnn.search.evaluation.evaluate_population`,
    where ``trained`` counts the candidates new to every rung (the
    candidates a budget pays for) and ``cache_hits`` the rest. Rung
    trainings go through ``toolbox.map``. The loop's ``cache`` argument is
    not used: each rung has its own cache. A lone candidate goes straight
    to the top rung (there is nobody to halve against). The totals over all
    calls are in ``candidates``, ``trainings``, ``epochs_trained`` (epochs
    actually run: a continued candidate counts only its extra epochs)
    and ``rung_trainings``; ``reached`` maps each genome to the most
    epochs it was trained for.

    Only single-objective fitness is supported: ranking needs one number.
    """

    def __init__(self, evaluator, rungs=None, eta=1 / 3, store=None, continue_training=False, state_dir=None):
        _check_eta(eta)
        if rungs is None:
            rungs = halving_rungs(_settings_of(evaluator).epochs, eta)
        rungs = tuple(rungs)
        if not rungs or any(isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in rungs):
            raise ValueError(f"rungs must be a non-empty sequence of epoch counts >= 1, got {rungs!r}")
        if any(later <= earlier for earlier, later in zip(rungs, rungs[1:], strict=False)):
            raise ValueError(f"rungs must be strictly increasing epoch counts, got {rungs!r}")
        self.eta = eta
        self.rungs = rungs
        self.continue_training = bool(continue_training)
        self._temporary = None
        if self.continue_training:
            rung_evaluator(evaluator, rungs[0], rungs[-1], ".", None)  # refuses an evaluator without training states
            if state_dir is None:
                self._temporary = state_dir = tempfile.mkdtemp(prefix="halving-state-")
            os.makedirs(state_dir, exist_ok=True)
            self.state_dir = str(state_dir)
            self.evaluators = [
                rung_evaluator(evaluator, epochs, rungs[-1], self.state_dir, rungs[k - 1] if k else None)
                for k, epochs in enumerate(rungs)
            ]
        else:
            self.state_dir = None
            self.evaluators = [rung_evaluator(evaluator, epochs) for epochs in rungs]
        self.stores = [None if store is None else _open(store, _fingerprint(e)) for e in self.evaluators]
        self.caches = [EvaluationCache(s) for s in self.stores]
        self.candidates = 0
        self.trainings = 0
        self.epochs_trained = 0
        self.seconds_trained = 0.0
        self.rung_trainings = [0] * len(rungs)
        self.reached = {}

    def __repr__(self):
        return f"SuccessiveHalving(rungs={self.rungs}, eta={self.eta})"

    def close(self):
        """Close the rung stores (if any)."""
        for store in self.stores:
            if store is not None:
                store.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None

    def _drop_states(self):
        """Delete the batch's training states: a later batch never promotes these candidates again."""
        if self.state_dir is not None:
            for name in os.listdir(self.state_dir):
                if name.endswith(".pt"):
                    os.unlink(os.path.join(self.state_dir, name))

    def known(self, key: str) -> bool:
        """Whether ``key`` (a canonical genome) has been trained at any rung: not new to a budget."""
        return any(cache.get(str(key)) is not None for cache in self.caches)

    def promoted_count(self, n: int) -> int:
        """How many of ``n`` candidates of a rung move up: ``ceil(n * eta)``."""
        return math.ceil(n * self.eta)

    def __call__(self, individuals, toolbox, cache=None, generation=None):
        invalid = [ind for ind in individuals if not ind.fitness.valid]
        if not invalid:
            return 0, 0, 0
        weights = invalid[0].fitness.weights
        if len(weights) != 1:
            raise ValueError(
                f"successive halving ranks candidates by one number; this fitness has {len(weights)} "
                f"objectives (weights {weights})"
            )
        sign = 1.0 if weights[0] > 0 else -1.0
        keys = [str(ind) for ind in invalid]
        representatives = {}
        for key, ind in zip(keys, invalid, strict=True):
            representatives.setdefault(key, ind)
        order = list(representatives)
        new = [key for key in order if not self.known(key)]
        results = self._run_rungs(order, representatives, toolbox, generation, sign)
        assigned = self._assign(order, results, sign)
        self._drop_states()
        for key, ind in zip(keys, invalid, strict=True):
            ind.fitness.values = assigned[key]
        self.candidates += len(new)
        failed = sum(results[key][1].get("status", "ok") != "ok" for key in order)
        return len(new), len(invalid) - len(new), failed

    def _run_rungs(self, order, representatives, toolbox, generation, sign) -> dict:
        """Train the batch rung by rung; ``{key: (rung reached, record)}``."""
        results = {}
        alive = list(order)
        top = len(self.rungs) - 1
        rung = 0
        while alive:
            if len(alive) == 1:
                rung = top  # nobody left to halve against: the lone candidate goes to the top rung
            self._train_rung(rung, alive, representatives, toolbox, generation)
            for key in alive:
                results[key] = (rung, self.caches[rung].get(key))
                epochs = results[key][1].get("epochs") or self.rungs[rung]
                self.reached[key] = max(self.reached.get(key, 0), epochs)
            if rung == top:
                break
            alive = self._promote(alive, results, sign)
            rung += 1
        return results

    def _train_rung(self, rung, keys, representatives, toolbox, generation):
        cache = self.caches[rung]
        fresh = [key for key in keys if cache.get(key) is None]
        probes = []
        for key in keys:
            probe = toolbox.clone(representatives[key])
            del probe.fitness.values
            probes.append(probe)
        evaluator = self.evaluators[rung]
        rung_toolbox = base.Toolbox()
        rung_toolbox.register("evaluate", evaluator.record if hasattr(evaluator, "record") else evaluator)
        rung_toolbox.register("map", toolbox.map)
        trained, _, _ = evaluate_population(probes, rung_toolbox, cache, generation=generation)
        self.trainings += trained
        self.rung_trainings[rung] += trained
        for key in fresh:
            record = cache.get(key)
            self.epochs_trained += int(record.get("epochs") or 0) - int(record.get("continued_from") or 0)
            self.seconds_trained += float(record.get("seconds") or 0.0)

    def _promote(self, alive, results, sign) -> list:
        """The best ``ceil(len(alive) * eta)`` candidates that trained without failure, best first."""
        ok = [key for key in alive if results[key][1].get("status", "ok") == "ok"]
        ranked = sorted(ok, key=lambda key: sign * results[key][1]["fitness"][0], reverse=True)
        return ranked[: self.promoted_count(len(alive))]

    def _assign(self, order, results, sign) -> dict:
        """Final fitness per key: the last rung's, clamped below every candidate promoted further."""
        assigned = {}
        floor = None  # lowest score (sign * value) among candidates that reached a higher rung
        for rung in reversed(range(len(self.rungs))):
            group = [key for key in order if results[key][0] == rung]
            scores = []
            for key in group:
                score = sign * float(results[key][1]["fitness"][0])
                if floor is not None and score >= floor:
                    score = math.nextafter(floor, -math.inf)
                assigned[key] = (sign * score,)
                scores.append(score)
            if scores:
                floor = min(scores) if floor is None else min(floor, *scores)
        return assigned


def _open(store, fingerprint):
    """The results store ``store(fingerprint=...)`` opens (the search layer names no store class of its own)."""
    if not callable(store):
        raise TypeError(
            f"store must be a function fingerprint -> results store, e.g. "
            f"functools.partial(deap_cnn.runs.store.ResultsStore, path), not {store!r}"
        )
    return store(fingerprint=fingerprint)


def async_rungs(evaluator, rungs=None, eta=1 / 3, store=None):
    """Successive halving's fidelities for the asynchronous strategies (:class:`~deap_cnn.search.steady.Rungs`).

    One :func:`rung_evaluator` copy of ``evaluator`` per lower rung (default
    :func:`halving_rungs` of its epochs and ``eta``), cheapest first, and
    ``evaluator`` itself as the top rung. With ``store`` (``store(fingerprint=...)`` opens a
    results store: ``functools.partial(ResultsStore, path)``) each
    lower rung's results go there under its own fingerprint; close the
    returned object's stores with ``rungs.close()``. ``None`` when there is a
    single rung (one epoch, say): nothing to promote, every candidate is
    trained in full, as :class:`SuccessiveHalving` does then.
    """
    from .steady import Rungs

    rungs = tuple(rungs) if rungs is not None else halving_rungs(_settings_of(evaluator).epochs, eta)
    if len(rungs) < 2:
        return None
    if rungs[-1] != _settings_of(evaluator).epochs:
        raise ValueError(f"the top rung ({rungs[-1]} epochs) must be the evaluator's own epochs "
                         f"({_settings_of(evaluator).epochs})")  # fmt: skip
    copies = [rung_evaluator(evaluator, epochs) for epochs in rungs[:-1]]
    stores = [None if store is None else _open(store, _fingerprint(copy)) for copy in copies]
    return Rungs(
        evaluate=[copy.record for copy in copies] + [evaluator.record],
        caches=[EvaluationCache(s) for s in stores],
        eta=eta,
        epochs=list(rungs),
    )
