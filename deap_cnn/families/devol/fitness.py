"""DEvol's fitness hook: a function of the last epoch's validation accuracy and loss, as an objective."""

from __future__ import annotations

import math

from ...search.objectives import FAILED_LOSS, MAXIMISE, Objective, ObjectiveError
from ..base import qualified_name

__all__ = ["FAILED_LOSS", "fitness_accuracy", "fitness_neg_loss", "devol_objective"]


def fitness_accuracy(accuracy: float, loss: float) -> float:
    """DEvol's ``metric="accuracy"``: the validation accuracy (maximise)."""
    return accuracy


def fitness_neg_loss(accuracy: float, loss: float) -> float:
    """DEvol's ``metric="loss"``, negated so that a maximising fitness type serves: ``-loss``."""
    return -loss


class DevolHook:
    """``function(accuracy, loss)`` of a record's last epoch: an objective's function (picklable, named stably)."""

    def __init__(self, function):
        if not callable(function):
            raise TypeError(f"function must be callable as function(accuracy, loss), got {function!r}")
        self.function = function

    def __repr__(self):
        return f"DevolHook({qualified_name(self.function)})"

    def __eq__(self, other):
        return isinstance(other, DevolHook) and self.function == other.function

    def __hash__(self):
        return hash(self.function)

    def __call__(self, record) -> float:
        return self.function(record.val_accuracy[-1], record.val_loss[-1])


def devol_objective(function=fitness_accuracy, direction=MAXIMISE, worst=None, name=None) -> Objective:
    """DEvol's hook as an :class:`~deap_cnn.search.objectives.Objective`.

    Its value is ``function(accuracy, loss)`` of the last epoch's validation
    accuracy and loss (DEvol scores the trained model). ``function`` must be
    picklable for SCOOP workers: a module-level function such as
    :func:`fitness_accuracy`, :func:`fitness_neg_loss` or your own, not a
    lambda. A failed candidate gets ``worst``; by default
    ``function(0.0, FAILED_LOSS)``, the worst score for any function that
    rises with accuracy and falls with loss, and also for one that is
    minimised and returns the loss. ``name`` defaults to the function's.
    """
    hook = DevolHook(function)
    if worst is None:
        worst = float(function(0.0, FAILED_LOSS))
        if not math.isfinite(worst):
            raise ObjectiveError(
                f"fitness function {qualified_name(function)} gave {worst} for accuracy 0.0 and loss {FAILED_LOSS}, "
                "the score of a failed candidate: pass worst=value"
            )
    return Objective(name or getattr(function, "__name__", "devol"), direction, hook, worst=worst)
