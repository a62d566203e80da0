"""DEvol's fitness hook: a function of the last epoch's validation accuracy and loss."""

from __future__ import annotations

import hashlib
import json
import math

__all__ = ["FAILED_LOSS", "fitness_accuracy", "fitness_neg_loss", "DevolFitness"]

#: The loss a failed candidate is scored at by a fitness function: finite and far above any real loss.
FAILED_LOSS = 1e9


def fitness_accuracy(accuracy: float, loss: float) -> float:
    """DEvol's ``metric="accuracy"``: the validation accuracy (maximise)."""
    return accuracy


def fitness_neg_loss(accuracy: float, loss: float) -> float:
    """DEvol's ``metric="loss"``, negated so that a maximising fitness type serves: ``-loss``."""
    return -loss


class DevolFitness:
    """DEvol's fitness hook: a user function of validation accuracy and loss, around an evaluator.

    ``DevolFitness(evaluator, function).record(genome)`` trains ``genome``
    with ``evaluator`` (any object with ``record(genome)`` returning an
    :class:`~deap_cnn.training.settings.EvaluationRecord`, e.g. an
    :class:`~deap_cnn.training.evaluator.Evaluator`) and sets the record's fitness to
    ``(function(accuracy, loss),)``, from the last epoch's validation
    accuracy and loss (DEvol scores the trained model). Calling it returns
    that fitness tuple, so either form registers as ``evaluate``.

    ``function`` must be picklable for SCOOP workers: a module-level function
    such as :func:`fitness_accuracy`, :func:`fitness_neg_loss` or your own,
    not a lambda. A failed candidate (out of memory, diverged, broken) gets
    ``failed_fitness``; by default ``function(0.0, FAILED_LOSS)``, the
    worst score for any function that rises with accuracy and falls with loss,
    and also for one that is minimised and returns the loss.
    """

    def __init__(self, evaluator, function=fitness_accuracy, failed_fitness=None):
        if not callable(getattr(evaluator, "record", None)):
            raise TypeError(f"evaluator must have a record(genome) method, got {evaluator!r}")
        if not callable(function):
            raise TypeError(f"function must be callable as function(accuracy, loss), got {function!r}")
        self.evaluator = evaluator
        self.function = function
        if failed_fitness is None:
            failed_fitness = (self._score(0.0, FAILED_LOSS, "failed_fitness"),)
        self.failed_fitness = tuple(float(v) for v in failed_fitness)

    def __repr__(self):
        return f"DevolFitness({self.evaluator!r}, {_name(self.function)}, failed_fitness={self.failed_fitness!r})"

    def _score(self, accuracy, loss, what="fitness") -> float:
        value = float(self.function(accuracy, loss))
        if not math.isfinite(value):
            hint = "; pass failed_fitness=(value,)" if what == "failed_fitness" else ""
            raise ValueError(
                f"fitness function {_name(self.function)} gave {value} for accuracy {accuracy} and loss {loss}: "
                f"a fitness must be finite{hint}"
            )
        return value

    def record(self, genome):
        record = self.evaluator.record(genome)
        if record.status == "ok":
            record.fitness = (self._score(record.val_accuracy[-1], record.val_loss[-1]),)
        else:
            record.fitness = self.failed_fitness
        return record

    def __call__(self, genome) -> tuple:
        return self.record(genome).fitness

    def fingerprint(self) -> str:
        """The evaluator's fingerprint combined with the function's name, for the results store."""
        text = json.dumps([self.evaluator.fingerprint(), _name(self.function), list(self.failed_fitness)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _name(function) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
