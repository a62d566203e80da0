"""Fitness by table lookup: the evaluator contract of a training, answered by a benchmark table.

:class:`LookupEvaluator` has what a search asks of an
:class:`~deap_cnn.training.evaluator.Evaluator`: ``record(genome)`` returns an
:class:`~deap_cnn.training.settings.EvaluationRecord`, ``evaluator(genome)``
its fitness, ``fingerprint()`` what a results store keys on, and
``settings`` a dataclass with ``epochs`` (so successive halving and
reranking copy it per fidelity). So a lookup goes through the same cache,
store, checkpoints, engines and report as a training, and counts as one.

A table holds one number per architecture: a search on it is noise-free,
unlike one on short trainings. ``noise`` plays a cheap proxy: it adds
Gaussian noise of that standard deviation at ``noise_epochs`` epochs,
shrinking as ``sqrt(noise_epochs / epochs)`` for longer evaluations (as the
noise of an average over that many epochs would). The draw is seeded by the
settings' ``seed``, the genome and the epochs, so a genome scores the same
in every process, run and resume, and another seed draws afresh (reranking
uses the next seed). The record keeps the table's own value as
``noise_free_fitness``.

**Several fidelities.** A table may hold one score column per training
length (NATS-Bench's 12- and 200-epoch accuracies, say):
``fidelities=((12, "acc_12"), (200, "acc_200"))``. An evaluation at
``epochs`` reads the column of that fidelity (an epoch count the table does
not hold is refused), so successive halving's rungs and reranking read the
longer columns, and a budget charges each lookup its epochs. ``truth``
names the column a pick is judged by (the longest training, or test
accuracy where the search reads validation accuracy): the record's
``noise_free_fitness`` is then that column's value, not the fitness's own.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass

from ..families.base import is_int, is_real
from ..training.settings import EvaluationRecord
from .table import load_table

__all__ = ["LookupSettings", "LookupEvaluator", "parse_fidelities"]


@dataclass(frozen=True)
class LookupSettings:
    """How a lookup scores: which column, how noisy, at which fidelity.

    ``epochs`` is the fidelity of an evaluation (with one ``column``, only
    the noise and its cost depend on it); ``noise`` the standard deviation
    of the noise at ``noise_epochs`` epochs; ``seed`` seeds the noise.
    ``fidelities`` maps training lengths to columns, ``((epochs, column),
    ...)`` (instead of ``column``); ``truth`` is the column a pick is judged
    by (``noise_free_fitness``; default: the evaluated column itself).
    """

    column: str | None = None
    noise: float = 0.0
    noise_epochs: int = 1
    epochs: int = 1
    seed: int = 0
    fidelities: tuple = ()
    truth: str | None = None

    def __post_init__(self):
        if not is_real(self.noise) or not self.noise >= 0:
            raise ValueError(f"lookup noise must be a number >= 0 (a standard deviation), got {self.noise!r}")
        if not math.isfinite(self.noise):
            raise ValueError(f"lookup noise must be finite, got {self.noise!r}")
        for name in ("noise_epochs", "epochs"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        object.__setattr__(self, "fidelities", parse_fidelities(self.fidelities))
        if self.fidelities and self.column is not None:
            raise ValueError("give the score column either as column or as fidelities, not both")
        if self.fidelities and self.epochs not in dict(self.fidelities):
            raise ValueError(
                f"the table has no fidelity of {self.epochs} epochs: its fidelities are "
                f"{', '.join(str(e) for e, _ in self.fidelities)} epochs (--epochs is one of them)"
            )

    @property
    def evaluated_column(self) -> str | None:
        """The column an evaluation at ``epochs`` reads."""
        return dict(self.fidelities)[self.epochs] if self.fidelities else self.column

    @property
    def noise_sd(self) -> float:
        """The noise's standard deviation at this fidelity."""
        return self.noise * math.sqrt(self.noise_epochs / self.epochs)

    def fingerprint(self) -> str:
        values = asdict(self)
        for name, unset in (("fidelities", ()), ("truth", None)):  # fingerprints from before they existed hold
            if values[name] == unset:
                del values[name]
        text = json.dumps(values, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_fidelities(values) -> tuple:
    """``["12=acc_12", (200, "acc_200")]`` -> ``((12, "acc_12"), (200, "acc_200"))``, shortest first, checked.

    Each fidelity is ``EPOCHS=COLUMN`` text or an ``(epochs, column)`` pair;
    an epoch count that is not a positive integer, or given twice, raises
    :class:`ValueError` naming it.
    """
    pairs = []
    for value in values or ():
        if isinstance(value, str):
            epochs_text, sep, column = value.partition("=")
            if not sep or not column.strip():
                raise ValueError(f"fidelity {value!r}: write EPOCHS=COLUMN, e.g. 12=cifar10_valid_accuracy_12_epochs")
            try:
                epochs = int(epochs_text)
            except ValueError:
                raise ValueError(f"fidelity {value!r}: {epochs_text!r} is not a whole number of epochs") from None
            value = (epochs, column.strip())
        epochs, column = value
        if not is_int(epochs) or epochs < 1:
            raise ValueError(f"fidelity {value!r}: the epochs must be an integer >= 1")
        if not isinstance(column, str) or not column:
            raise ValueError(f"fidelity {value!r}: the column must be a column name")
        pairs.append((epochs, column))
    epochs = [e for e, _ in pairs]
    repeated = sorted({e for e in epochs if epochs.count(e) > 1})
    if repeated:
        raise ValueError(f"fidelity of {repeated[0]} epochs given twice: give one column per training length")
    return tuple(sorted(pairs))


class LookupEvaluator:
    """Fitness of genomes from a benchmark table, for ``toolbox.register("evaluate", evaluator)``.

    Parameters
    ----------
    table:
        The path of the CSV table (see :mod:`deap_cnn.lookup.table`).
    space:
        The genomes' search space: it parses the table and the genomes, and,
        where it can (``parameters``, ``macs``), fills in their size.
    settings:
        A :class:`LookupSettings`.

    Notes
    -----
    Only these travel when pickled; each process reads the table once. The
    table is checked here, so a bad table or column fails before a search
    starts; a genome that is not in the table raises
    :class:`~deap_cnn.lookup.table.TableError` (a search on a space the table
    does not cover is refused up front by ``table.check_covers(space)``).
    """

    def __init__(self, table, space, settings: LookupSettings = LookupSettings()):
        if not isinstance(settings, LookupSettings):
            raise TypeError(f"settings must be a LookupSettings, got {type(settings).__name__}")
        self.path = str(table)
        self.space = space
        self.settings = settings
        self._table = self._truth = None
        self.table  # noqa: B018 - read and check it now
        self.truth_table  # noqa: B018
        for _, column in settings.fidelities:  # every fidelity's column, so a bad one fails before a search
            load_table(self.path, self.space, column)

    @property
    def table(self):
        """The :class:`~deap_cnn.lookup.table.LookupTable` of this fidelity (read once per process and evaluator)."""
        if self._table is None:
            self._table = load_table(self.path, self.space, self.settings.evaluated_column)
        return self._table

    @property
    def truth_table(self):
        """The table of the ``truth`` column (the evaluated one when the settings name none)."""
        if self.settings.truth is None:
            return self.table
        if self._truth is None:
            self._truth = load_table(self.path, self.space, self.settings.truth)
        return self._truth

    def __getstate__(self):
        return {**self.__dict__, "_table": None, "_truth": None}  # workers read the file themselves

    def __repr__(self):
        return f"LookupEvaluator({self.path!r}, space={self.space!r}, settings={self.settings!r})"

    @property
    def deterministic(self) -> bool:
        """Whether a genome scores the same every time at every length (no noise, one fidelity): retraining it
        to rerank tells nothing new."""
        return not self.settings.noise and len(self.settings.fidelities) < 2

    def __call__(self, genome) -> tuple:
        return self.record(genome).fitness

    def fingerprint(self) -> str:
        """A hash of the table's bytes, its column and the settings: what decides a fitness."""
        table = self.table
        text = json.dumps([table.digest, table.column, self.settings.fingerprint(), type(self.space).__name__])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def noise(self, text: str) -> float:
        """The noise added to the genome whose canonical text is ``text`` (0 without noise)."""
        sd = self.settings.noise_sd
        if not sd:
            return 0.0
        # A string seed is hashed with SHA-512 by random.Random: the same draw in every process.
        rng = random.Random(f"{self.settings.seed}|{self.settings.epochs}|{text}")
        return rng.gauss(0.0, sd)

    def record(self, genome) -> EvaluationRecord:
        """The table's score of ``genome`` (plus noise, if any) as an evaluation record."""
        genome = self.space.validate(genome)
        text = str(genome)
        table = self.table
        if text not in table:
            from .table import TableError

            raise TableError(f"table {table.path} has no row for {text}: use a table that covers the search space")
        exact = table[text]
        value = exact + self.noise(text)
        truth = self.truth_table[text]
        parameters = getattr(self.space, "parameters", None)
        macs = getattr(self.space, "macs", None)
        return EvaluationRecord(
            genome=text,
            fitness=(value,),
            val_accuracy=[value],
            parameters=parameters(genome) if parameters else 0,
            flops=2 * macs(genome) if macs else 0,  # PyTorch's convention: a multiply-add is two FLOPs
            epochs=self.settings.epochs,
            device="table",
            noise_free_fitness=truth,
        )
