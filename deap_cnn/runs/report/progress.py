"""The search's progress: the best fitness found so far after each evaluation, in the order the store recorded them.

This is the one progress measure every strategy shares: generational loops,
aging evolution (whose population loses its best to age, so a population's
best can fall), random search and TPE all add rows to the store as their
evaluations finish, and the best so far never gets worse: it only rises
when the run's first objective is maximised (accuracy), only falls when it is
minimised (a loss), as the run's recorded directions say (:attr:`RunData.sign`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...families.base import finite_or_none
from .run_data import _first

__all__ = ["Progress", "best_so_far"]


@dataclass
class Progress:
    """The best so far over a run's evaluations; evaluations are numbered from 1 in the store's order."""

    count: int = 0
    #: ``(evaluation number, fitness, genome)`` of every scored (``ok``) evaluation.
    scored: list = field(default_factory=list)
    #: ``(evaluation number, best fitness so far)`` from the first scored evaluation on: never gets worse.
    best: list = field(default_factory=list)
    #: The scored evaluations that raised the best so far, in order.
    improvements: list = field(default_factory=list)
    #: Training seconds summed up to and including each evaluation (failed ones too); empty if none were timed.
    seconds: list = field(default_factory=list)

    @property
    def last_improvement(self):
        """``(evaluation number, fitness, genome)`` of the evaluation holding the best, or ``None``."""
        return self.improvements[-1] if self.improvements else None

    @property
    def since_improvement(self) -> int:
        """Evaluations after the one that found the best (a long run of them: the search has levelled off)."""
        last = self.last_improvement
        return self.count - last[0] if last else self.count


def best_so_far(evaluations, sign=1.0) -> Progress:
    """The :class:`Progress` of ``evaluations`` (the store's rows, in the order of their ids).

    ``sign`` is ``1.0`` when higher fitness is better, ``-1.0`` when lower is
    (the run's first objective minimised). A tie does not count as an
    improvement: the best is credited to the evaluation that first reached it.
    """
    progress = Progress(count=len(evaluations))
    best = None
    for number, row in enumerate(evaluations, start=1):
        value = _first(row["fitness_values"]) if row["status"] == "ok" else None
        if value is not None:
            progress.scored.append((number, value, row["genome"]))
            if best is None or sign * value > sign * best:
                best = value
                progress.improvements.append((number, value, row["genome"]))
        if progress.improvements:
            progress.best.append((number, best))
    progress.seconds = _cumulative_seconds(evaluations)
    return progress


def _cumulative_seconds(evaluations) -> list:
    """Training seconds summed in order; an untimed row adds nothing. Empty when no row was timed."""
    seconds = [finite_or_none(row.get("seconds")) for row in evaluations]
    if not any(s is not None and s > 0 for s in seconds):
        return []
    total, sums = 0.0, []
    for value in seconds:
        total += value if value is not None and value > 0 else 0.0
        sums.append(total)
    return sums
