"""What each of the page's sections after the first shows, computed from a run; the templates lay it out.

Every function takes the run (and what the page computed once for all
sections) and returns the section's view, or ``None`` when the section has
nothing to show for this run and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

from .charts import best_so_far_chart, curves_chart, line_chart, scatter_chart
from .formatting import duration, fitness_value, plain, short_number, size
from .progress import Progress
from .run_data import (
    MINIMISE,
    REPORT_NAME,
    RUN_FILES,
    RunData,
    _first,
    failure_groups,
    gene_values,
    minimised,
    pareto_points,
    population_series,
)
from .settings import settings_view
from .table import COLUMNS, evaluation_table

__all__ = [
    "curves",
    "evaluations",
    "failures",
    "folder",
    "genes",
    "pareto_front",
    "population",
    "progress",
    "settings",
]

#: Strategies whose population lives on from one generation to the next, so its statistics say something;
#: random search and TPE log batches of independent draws, whose mean and best the best so far says better.
POPULATION_STRATEGIES = ("ga", "nsga2", "aging")


def _strategy(run: RunData) -> str:
    return str(run.status.get("strategy") or run.config.get("strategy") or "")


def _objective(run: RunData) -> str:
    return run.objectives[0] if run.objectives else "fitness"


@dataclass
class AxisChart:
    """The best-so-far chart against one x axis; ``key`` names the axis in the page."""

    key: str
    label: str
    chart: Markup


@dataclass
class ProgressView:
    summary: str
    #: One chart per x axis, the default (evaluations) first.
    charts: list = field(default_factory=list)


def progress(run: RunData, progress: Progress) -> ProgressView:
    """The best so far against evaluations (the default axis) and against summed training time (if timed).

    ``progress`` follows the run's first objective's direction: its best so
    far falls, step by step, when that objective is minimised.
    """
    objective = _objective(run)
    if not progress.best:
        reason = "no evaluation has been scored yet" if run.evaluations else "no evaluations yet"
        return ProgressView(summary=f"Nothing to plot: {reason}.")
    y_label = f"best {objective} so far"
    tip = {n: f"evaluation {n}: {genome}, {fitness_value(v)}" for n, v, genome in progress.scored}
    numbers = list(range(1, progress.count + 1))
    x_label = "evaluations, in the order they finished"
    charts = [AxisChart("evaluations", "evaluations", _progress_chart(progress, numbers, tip, x_label, y_label))]
    if progress.seconds:
        scale, unit = _time_unit(progress.seconds[-1])
        xs = [s / scale for s in progress.seconds]
        label = f"training time, summed over evaluations ({unit})"
        charts.append(AxisChart("time", "training time", _progress_chart(progress, xs, tip, label, y_label)))
    named = f"{objective} (minimised)" if run.sign < 0 else objective
    return ProgressView(summary=_progress_summary(progress, named), charts=charts)


def _progress_chart(progress: Progress, xs: list, tip: dict, x_label: str, y_label: str) -> Markup:
    """The chart with evaluation ``n`` placed at ``xs[n - 1]``."""
    return Markup(
        best_so_far_chart(
            [(xs[n - 1], v, tip[n]) for n, v, _ in progress.scored],
            [(xs[n - 1], v) for n, v in progress.best],
            [(xs[n - 1], v, tip[n]) for n, v, _ in progress.improvements],
            x_label,
            y_label,
        )
    )


def _time_unit(total_seconds: float) -> tuple[float, str]:
    """The unit the time axis reads best in: seconds, minutes or hours."""
    if total_seconds >= 2 * 3600:
        return 3600.0, "h"
    if total_seconds >= 120:
        return 60.0, "min"
    return 1.0, "s"


def _progress_summary(progress: Progress, objective: str) -> str:
    number, value, _ = progress.last_improvement  # a later tie may be the run's pick: no genome named here
    text = f"Best {objective} {fitness_value(value)}, first reached at evaluation {number} of {progress.count}"
    if progress.seconds:
        text += f" after {duration(progress.seconds[number - 1])} of training"
    since = progress.since_improvement
    if since:
        text += f"; {since} evaluation{'s' if since != 1 else ''} since without improvement"
    return text + "."


@dataclass
class EvaluationsView:
    table: object = None
    #: Why there is no table (no store, or an empty one).
    empty: str = ""


def evaluations(run: RunData, best_row) -> EvaluationsView:
    if not run.evaluations:
        reason = "results.sqlite is missing" if "results.sqlite" in run.missing else "the store holds none yet"
        return EvaluationsView(empty=f"No evaluations: {reason}.")
    columns = [c for c in COLUMNS if c.key != "curve"] if run.lookup else COLUMNS  # a lookup's "curve" is its fitness
    return EvaluationsView(table=evaluation_table(run.evaluations, best_row, columns))


def curves(run: RunData, best_row) -> Markup | None:
    """Every candidate's validation curve, the best one bold; ``None`` if no evaluation stored one.

    A ``--lookup`` run trains nothing: the one point it stores per
    candidate is its fitness again, so it gets no curves.
    """
    if run.lookup or not any(row["curve"] for row in run.evaluations):
        return None
    return Markup(curves_chart(run.evaluations, best_row))


@dataclass
class FrontView:
    chart: Markup
    names: list
    #: ``(genome, [value text per objective])`` of every front member.
    rows: list
    source: str
    x_name: str
    y_name: str


def pareto_front(run: RunData) -> FrontView | None:
    """The front (red) over every evaluated point (blue), second objective across, first up; ``None``: one objective."""
    names, points, front = pareto_points(run)
    if not front and not points:
        return None
    x_name, y_name = (names[1], names[0]) if len(names) > 1 else ("objective 2", "objective 1")
    shown = {genome for genome, _ in front}
    others = [(v[1], v[0], f"{g}: {_values_text(v)}") for g, v in points if g not in shown]
    highlight = [(v[1], v[0], f"{g}: {_values_text(v)}") for g, v in front]
    directions = run.directions if len(run.directions) == len(names) else []
    chart = scatter_chart(
        others,
        _direction(x_name, 1, directions),
        _direction(y_name, 0, directions),
        highlight,
        log_x=True,
        staircase=True,
    )
    return FrontView(
        chart=Markup(chart),
        names=names,
        rows=[(genome, [short_number(v) for v in values]) for genome, values in front],
        source="the store's pareto_front table" if run.front else "the non-dominated evaluations",
        x_name=x_name,
        y_name=y_name,
    )


def _direction(name: str, index: int, directions) -> str:
    """``name (minimised)`` or ``name (maximised)``: as the run recorded it, else as its name says."""
    if index < len(directions):
        minimise = directions[index] == MINIMISE
    else:
        minimise = minimised(name, index)
    return f"{name} ({'minimised' if minimise else 'maximised'})"


def _values_text(values) -> str:
    return ", ".join(short_number(v) for v in values)


@dataclass
class PopulationView:
    chart: Markup
    note: str


def population(run: RunData) -> PopulationView | None:
    """The population's best and mean per generation, for strategies whose population lives on; else ``None``.

    Aging evolution's population loses its oldest member, best or not, after
    every evaluation, so its best can fall: the note says so, and points to the best so far.
    """
    strategy = _strategy(run)
    if strategy and strategy not in POPULATION_STRATEGIES:
        return None
    xs, series = population_series(run)
    if not series:
        return None
    note = "From logbook.csv: the population's statistics after each generation."
    if strategy == "aging":
        population_size = run.config.get("population")
        every = f"{population_size} " if isinstance(population_size, int) else "a population's worth of "
        note = (
            f"From logbook.csv, a row every {every}evaluations. Aging evolution retires the oldest member, "
            "best or not, so the population's best can fall; the run's best so far is charted above."
        )
    return PopulationView(chart=Markup(line_chart(xs, series, "generation", _objective(run))), note=note)


def genes(run: RunData) -> list | None:
    """One small chart per hyperparameter gene, its value against fitness; ``None`` if no genome has such genes."""
    scored = []
    for row in run.evaluations:
        values, fitness = gene_values(row["genome"]), _first(row["fitness_values"])
        if values and fitness is not None and row["status"] == "ok":
            scored.append((row["genome"], values, fitness))
    if not scored:
        return None
    names = list(dict.fromkeys(name for _, values, _ in scored for name in values))
    return [Markup(_gene_chart(name, scored)) for name in names]


def _gene_chart(name: str, scored) -> str:
    values = [(genes[name], fitness, genome) for genome, genes, fitness in scored if name in genes]
    if all(isinstance(v, float) for v, _, _ in values):
        points = [(v, fitness, f"{genome}: {fitness:.4g}") for v, fitness, genome in values]
        positive = [v for v, _, _ in values if v > 0]
        return scatter_chart(points, name, "fitness", log_x=len(positive) == len(values), small=True)
    categories = sorted({str(v) for v, _, _ in values})
    points = [(categories.index(str(v)), fitness, f"{genome}: {fitness:.4g}") for v, fitness, genome in values]
    return scatter_chart(points, name, "fitness", categories=categories)


@dataclass
class FailureGroup:
    status: str
    cause: str
    genomes: list


def failures(run: RunData) -> list | None:
    """The failed evaluations grouped by status and first line of the error, most frequent first.

    An empty list: evaluations, none failed; ``None``: no evaluations to speak of.
    """
    if not run.evaluations:
        return None
    return [
        FailureGroup(status, cause, [row["genome"] for row in rows])
        for status, cause, rows in failure_groups(run.evaluations)
    ]


def settings(run: RunData):
    """The settings against the defaults (none if the folder holds no config.json and no store settings)."""
    return settings_view(run.config, run.config_source)


@dataclass
class FolderView:
    #: ``(name, size text)`` of every file but the report itself.
    files: list
    #: ``(name, what it would have told)`` of every run file the folder lacks.
    missing: list
    #: ``(key, text)`` of ``best.json``.
    best: list
    #: ``model-card.md`` as written (:mod:`deap_cnn.runs.card`); empty before the run ends.
    card: str = ""


def _model_card(run: RunData) -> str:
    try:
        return (run.folder / "model-card.md").read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def folder(run: RunData) -> FolderView:
    return FolderView(
        files=[(name, size(n)) for name, n in run.files.items() if name != REPORT_NAME],
        missing=[(name, RUN_FILES[name]) for name in run.missing],
        best=[(key, plain(value) or "–") for key, value in run.best.items()],  # a lookup's classes: []
        card=_model_card(run),
    )
