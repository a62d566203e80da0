"""Multi-objective fitness: accuracy against parameters and/or FLOPs around an ordinary evaluator."""

from __future__ import annotations

import hashlib
import json

__all__ = ["OBJECTIVES", "WORST_SIZE", "check_objectives", "objective_weights", "MultiObjective"]

#: Objective names: the first is maximised, the sizes are minimised.
OBJECTIVES = ("accuracy", "parameters", "flops")


SIZE_OBJECTIVES = ("parameters", "flops")


#: Size given to a candidate whose training failed: finite (so sorting,
#: statistics, JSON and SQLite keep working) and beyond any real network, so a
#: failure is dominated by every candidate that trained.
WORST_SIZE = 1e18


def check_objectives(objectives) -> tuple:
    """``objectives`` as a tuple, or a ``ValueError`` saying what is allowed.

    Accuracy comes first, then one or two distinct size objectives
    (``"parameters"``, ``"flops"``): the individual types are fixed at import
    (workers must be able to unpickle them), and these are the combinations
    they cover.
    """
    if isinstance(objectives, str):
        objectives = (objectives,)
    names = tuple(objectives)
    sizes = names[1:]
    if (
        len(names) < 2
        or names[0] != "accuracy"
        or not sizes
        or len(set(sizes)) != len(sizes)
        or any(name not in SIZE_OBJECTIVES for name in sizes)
    ):
        raise ValueError(
            f"objectives must be 'accuracy' followed by one or two of {SIZE_OBJECTIVES}, "
            f"e.g. ('accuracy', 'parameters') or ('accuracy', 'flops'); got {objectives!r}"
        )
    return names


def objective_weights(objectives) -> tuple:
    """DEAP weights for ``objectives``: accuracy maximised, sizes minimised."""
    return tuple(1.0 if name == "accuracy" else -1.0 for name in check_objectives(objectives))


class MultiObjective:
    """Wrap an evaluator so that a record's fitness is ``(accuracy, size, ...)``.

    Parameters
    ----------
    evaluator:
        A :class:`~deap_cnn.training.evaluator.Evaluator`, or anything with
        ``record(genome)`` returning a record that has ``fitness``,
        ``parameters``, ``flops``, ``status`` and ``to_dict()``.
    objectives:
        ``("accuracy", "parameters")`` (default), ``("accuracy", "flops")``
        or all three. "accuracy" is the evaluator's own scalar fitness (the
        best validation accuracy with the default
        :class:`~deap_cnn.training.settings.TrainSettings`).

    Calling it returns the record with its fitness replaced, so the record
    still fills every column of :data:`deap_cnn.runs.store.RECORD_FIELDS` and
    :func:`~deap_cnn.search.ga.ea_cnn_ga` takes it as it takes a plain
    evaluator's. A failed candidate keeps the evaluator's worst accuracy and
    gets :data:`WORST_SIZE` for every size, so no failure sits on the front
    because its network never got built (and so counted 0 parameters). It
    pickles small (its evaluator and the names), so workers can receive it.
    """

    def __init__(self, evaluator, objectives=("accuracy", "parameters")):
        if not callable(getattr(evaluator, "record", None)):
            raise TypeError(f"evaluator must have a record(genome) method, got {type(evaluator).__name__}")
        self.evaluator = evaluator
        self.objectives = check_objectives(objectives)

    def __repr__(self):
        return f"MultiObjective({self.evaluator!r}, objectives={self.objectives!r})"

    @property
    def weights(self) -> tuple:
        return objective_weights(self.objectives)

    def values(self, record) -> tuple:
        """The objective values of an evaluator's ``record``."""
        ok = getattr(record, "status", "ok") == "ok"
        values = [float(record.fitness[0])]
        for name in self.objectives[1:]:
            values.append(float(getattr(record, name)) if ok else WORST_SIZE)
        return tuple(values)

    def record(self, genome):
        """Train and score ``genome``; the evaluator's record with the multi-objective fitness."""
        record = self.evaluator.record(genome)
        record.fitness = self.values(record)
        return record

    __call__ = record

    def fingerprint(self) -> str:
        """The evaluator's fingerprint extended by the objectives: a store never mixes fitness shapes."""
        inner = self.evaluator.fingerprint() if callable(getattr(self.evaluator, "fingerprint", None)) else ""
        text = json.dumps([inner, list(self.objectives)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]
