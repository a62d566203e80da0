"""The evaluations table: its columns, declared once, and a cell per evaluation and column.

Each column reads its cell from an evaluation row (a store row as
:mod:`.run_data` parses it). A column no row has a value for (FLOPs in a
family that does not count them, errors in a run without failures) is left
out, so a new store column needs one entry in :data:`COLUMNS` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup

from ...families.base import finite_or_none
from .charts import _clip, sparkline
from .formatting import fitness_text, fitness_value, short_number
from .run_data import _first

__all__ = ["COLUMNS", "Cell", "Column", "Table", "evaluation_table"]


@dataclass(frozen=True)
class Cell:
    """What one cell shows (``text``, or ``chart``, an inline SVG) and the key it sorts by (``None``: last)."""

    text: str = ""
    sort: object = None
    chart: Markup | None = None

    @property
    def empty(self) -> bool:
        return not self.text and self.chart is None


@dataclass(frozen=True)
class Column:
    """A column: its title, a ``key`` naming it in the page (``col-KEY``), how the template shows it, its cell."""

    title: str
    key: str
    kind: str  # text, code, number, chart, status or error: how report's templates present the cell
    cell: Callable[[dict], Cell]


def _number(name: str, pattern: str | None = None) -> Callable[[dict], Cell]:
    """A numeric column's cell: sorted as a number, shown short (``12.3k``) or by ``pattern``; other text kept."""

    def cell(row: dict) -> Cell:
        value = row.get(name)
        number = None if isinstance(value, bool) else finite_or_none(value)
        if number is None:
            return Cell("" if value is None else str(value))
        return Cell(pattern.format(number) if pattern else short_number(number), number)

    return cell


def _text(name: str) -> Callable[[dict], Cell]:
    def cell(row: dict) -> Cell:
        text = str(row.get(name) or "")
        return Cell(text, text or None)

    return cell


def _fitness(row: dict) -> Cell:
    values = row["fitness_values"]
    return Cell(fitness_text(row), _first(values) if values else None)


def _score(name: str) -> Callable[[dict], Cell]:
    """A score's cell, written as fitness is (``91.4400``); other text kept."""

    def cell(row: dict) -> Cell:
        value = row.get(name)
        number = None if isinstance(value, bool) else finite_or_none(value)
        if number is None:
            return Cell("" if value is None else str(value))
        return Cell(fitness_value(number), number)

    return cell


def _curve(row: dict) -> Cell:
    chart = sparkline(row["curve"])
    return Cell(sort=row["curve"][-1] if row["curve"] else None, chart=Markup(chart) if chart else None)


def _error(row: dict) -> Cell:
    """The error's start (the failures section groups them in full by cause)."""
    error = str(row.get("error") or "")
    return Cell(_clip(error, 160), error or None)


#: The table's columns, left to right.
COLUMNS = (
    Column("#", "id", "number", _number("id", "{:.0f}")),
    Column("genome", "genome", "code", _text("genome")),
    Column("fitness", "fitness", "number", _fitness),
    # A benchmark-table run's exact score beside its noisy fitness (the store's noise_free_fitness; NULL for trainings).
    Column("noise-free score", "noise-free", "number", _score("noise_free_fitness")),
    Column("validation curve", "curve", "chart", _curve),
    Column("parameters", "parameters", "number", _number("parameters")),
    Column("FLOPs", "flops", "number", _number("flops")),
    # Measured with --objectives ... latency or --max-latency (NULL otherwise, so the column is dropped).
    Column("latency ms", "latency", "number", _number("latency_ms", "{:.3g}")),
    Column("seconds", "seconds", "number", _number("seconds", "{:.1f}")),
    Column("epochs", "epochs", "number", _number("epochs", "{:.0f}")),
    Column("status", "status", "status", _text("status")),
    Column("error", "error", "error", _error),
    Column("worker", "worker", "text", _text("worker")),
    Column("generation", "generation", "number", _number("generation", "{:.0f}")),
)


@dataclass
class Row:
    """One evaluation's row: its cells, whether it failed and whether it is the run's best."""

    cells: list
    failed: bool
    best: bool


@dataclass
class Table:
    columns: list
    rows: list


def evaluation_table(evaluations, best=None, columns=COLUMNS) -> Table:
    """The table of ``evaluations`` (store order), ``best`` (one of them) marked; columns without any value dropped."""
    cells = [[column.cell(row) for column in columns] for row in evaluations]
    kept = [n for n in range(len(columns)) if any(not line[n].empty for line in cells)]
    return Table(
        columns=[columns[n] for n in kept],
        rows=[
            Row([line[n] for n in kept], failed=row["status"] != "ok", best=row is best)
            for row, line in zip(evaluations, cells, strict=True)
        ],
    )
