"""A run's report: one self-contained HTML page, written to the run folder or served live.

``python -m deap_cnn.runs.report RUN`` writes ``RUN/report.html``; with
``--serve`` it serves the page on 127.0.0.1 and re-renders it whenever the
run's files change, so a running search can be watched in a browser. The
page needs no network: its style, script and charts (inline SVG drawn here)
are all inside it, and it prints legibly to PDF.

It reads whatever the folder holds and says what it lacks, so finished,
failed, interrupted and still-running runs all render:

- ``config.json``: the settings (a flat JSON object); else the store's ``settings`` table;
- ``status.json``: ``state`` (running, finished, interrupted or failed),
  ``message``, ``resume`` (the command that continues the run), ``updated``
  (unix time), ``family``, ``strategy``, ``objectives``; every key optional;
- ``logbook.csv``: statistics per generation (else computed from the store);
- ``results.sqlite``: the evaluations and the Pareto front (:mod:`deap_cnn.store`),
  opened read-only, briefly, so the run writing it never waits on the report.

Nothing here imports torch (nor the rest of the package): a report can be
made on a machine that only has the run folder.
"""

from __future__ import annotations

import argparse
import csv
import html
import itertools
import json
import math
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["ReportError", "RunData", "read_run", "render_html", "write_report", "ReportServer", "serve", "main"]

#: The files a run writes that the report reads, and what each one tells.
RUN_FILES = {
    "config.json": "the run's settings",
    "status.json": "whether the run is running, finished, interrupted or failed (older runs do not write it)",
    "logbook.csv": "statistics per generation (written when the search ends)",
    "results.sqlite": "one row per evaluation",
}
#: Other files a run may leave; any one of these (or the above) makes a folder a run folder.
OTHER_RUN_FILES = ("checkpoint.pkl", "best.json", "best.pt", "fitness.png", "front.png")
REPORT_NAME = "report.html"

#: Logbook columns that count or time things; the chart plots the others.
_BOOKKEEPING_COLUMNS = {"gen", "generation", "nevals", "cache_hits", "failed", "seconds", "eval_seconds"}
#: Objectives known to be minimised or maximised; others follow the package's order (first maximised, rest minimised).
_MINIMISED = {"parameters", "flops", "loss", "val_loss", "seconds", "latency"}
_MAXIMISED = {"accuracy", "val_accuracy", "fitness"}
#: A size at or beyond this marks a failed candidate in multi-objective runs (``multiobjective.WORST_SIZE``).
_FAILED_SIZE = 1e17
#: Seconds between refreshes of a served page while its run is running.
REFRESH_SECONDS = 5

# Palette: one accent per meaning, used by the CSS and the charts alike.
INK, MUTED, GRID = "#1f2933", "#6b7785", "#e3e7ec"
BLUE, ORANGE, GREEN, RED, PURPLE, GREY = "#2563eb", "#d97706", "#15803d", "#b91c1c", "#7c3aed", "#9aa5b1"


class ReportError(ValueError):
    """The folder cannot be reported on; the message names the problem and the fix."""


# ---------------------------------------------------------------------------
# Reading a run folder
# ---------------------------------------------------------------------------


@dataclass
class RunData:
    """Everything the report shows, read from one run folder; absent parts are empty."""

    folder: Path
    config: dict = field(default_factory=dict)
    config_source: str = ""
    status: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)
    logbook: list = field(default_factory=list)
    evaluations: list = field(default_factory=list)
    front: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    @property
    def state(self) -> str:
        state = self.status.get("state")
        return state if isinstance(state, str) and state else "unknown"

    @property
    def objectives(self) -> list:
        """Objective names, from the status, the saved front or the settings, in that order."""
        for names in (
            self.status.get("objectives"),
            self.front[0]["objectives"] if self.front else None,
            self.config.get("objectives"),
        ):
            if isinstance(names, list) and names:
                return [str(name) for name in names]
        return []


def is_run_folder(folder) -> bool:
    folder = Path(folder)
    return folder.is_dir() and any((folder / name).exists() for name in (*RUN_FILES, *OTHER_RUN_FILES))


def read_run(run_dir) -> RunData:
    """Read a run folder into a :class:`RunData`; raise :class:`ReportError` if it is not one."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ReportError(f"no run folder at {folder}: pass the folder a search wrote (its --out)")
    if not is_run_folder(folder):
        raise ReportError(
            f"{folder} is not a run folder: it holds none of {', '.join((*RUN_FILES, *OTHER_RUN_FILES))}; "
            "pass the folder a search wrote (its --out)"
        )
    run = RunData(folder=folder)
    run.files = {path.name: path.stat().st_size for path in sorted(folder.iterdir()) if path.is_file()}
    run.missing = [name for name in RUN_FILES if name not in run.files]
    run.config = _read_json_object(folder / "config.json", run.problems)
    run.config_source = "config.json" if run.config else ""
    run.status = _read_json_object(folder / "status.json", run.problems)
    run.best = _read_json_object(folder / "best.json", run.problems)
    run.logbook = _read_logbook(folder / "logbook.csv", run.problems)
    if "results.sqlite" in run.files:
        settings, run.evaluations, run.front = _read_store(folder / "results.sqlite", run.problems)
        if not run.config and settings:
            run.config, run.config_source = settings, "the store's settings table"
    return run


def _read_json_object(path: Path, problems: list) -> dict:
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        problems.append(f"{path.name} could not be read ({error}); it is left out")
        return {}
    if not isinstance(value, dict):
        problems.append(f"{path.name} holds a {type(value).__name__}, not a JSON object; it is left out")
        return {}
    return value


def _read_logbook(path: Path, problems: list) -> list:
    if not path.exists():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return [dict(row) for row in csv.DictReader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        problems.append(f"logbook.csv could not be read ({error}); statistics come from the store instead")
        return []


def _read_store(path: Path, problems: list) -> tuple[dict, list, list]:
    """``(settings, evaluations, front)`` from the store, read in one short read-only transaction.

    ``mode=ro`` never creates the file and never takes a write lock; the
    reads finish at once, so a run committing evaluations waits at most for
    the few milliseconds the copy takes (and the timeout covers its commits).
    """
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5, isolation_level=None)
    except sqlite3.Error as error:
        problems.append(f"results.sqlite could not be opened ({error}); no evaluations are shown")
        return {}, [], []
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        settings = _table_rows(db, "settings", "") if "settings" in tables else []
        evaluations = _table_rows(db, "evaluations", "ORDER BY id") if "evaluations" in tables else []
        front = _table_rows(db, "pareto_front", "ORDER BY position") if "pareto_front" in tables else []
    except sqlite3.Error as error:
        problems.append(f"results.sqlite could not be read ({error}); no evaluations are shown")
        return {}, [], []
    finally:
        db.close()
    return _settings_dict(settings), [_evaluation(row) for row in evaluations], [_front_member(r) for r in front]


def _table_rows(db, table: str, order: str) -> list[dict]:
    cursor = db.execute(f"SELECT * FROM {table} {order}")
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _settings_dict(rows) -> dict:
    settings = {}
    for row in rows:
        try:
            settings[str(row["key"])] = json.loads(row["value"])
        except (TypeError, ValueError, KeyError):
            settings[str(row.get("key"))] = row.get("value")
    return settings


def _numbers(text):
    """A JSON list of numbers (or one number) as a list of floats; ``None`` if it is not one."""
    try:
        value = json.loads(text) if isinstance(text, (str, bytes)) else text
    except ValueError:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    return [float(v) for v in value]


def _evaluation(row: dict) -> dict:
    """A store row with its JSON columns parsed (``None`` where they do not parse) and text kept."""
    row = dict(row)
    row["fitness_values"] = _numbers(row.get("fitness"))
    row["curve"] = _numbers(row.get("val_accuracy")) or []
    row["genome"] = "" if row.get("genome") is None else str(row["genome"])
    row["status"] = str(row.get("status") or "ok")
    return row


def _front_member(row: dict) -> dict:
    names = None
    try:
        names = json.loads(row.get("objectives") or "null")
    except ValueError:
        pass
    return {
        "genome": str(row.get("genome") or ""),
        "fitness": _numbers(row.get("fitness")),
        "objectives": [str(n) for n in names] if isinstance(names, list) else [],
        "fingerprint": row.get("fingerprint"),
    }


# ---------------------------------------------------------------------------
# What the numbers say
# ---------------------------------------------------------------------------


def _first(values):
    """The first fitness value if it is a finite number, else ``None``."""
    return values[0] if values and math.isfinite(values[0]) else None


def best_evaluation(evaluations, preferred=None) -> dict | None:
    """The ``ok`` evaluation with the highest first fitness value (fitness is maximised).

    Among ties the one whose genome is ``preferred`` (the run's own pick, from ``best.json``) wins,
    then the earliest.
    """
    scored = [row for row in evaluations if row["status"] == "ok" and _first(row["fitness_values"]) is not None]
    return max(scored, key=lambda row: (_first(row["fitness_values"]), row["genome"] == preferred), default=None)


def generation_series(run: RunData) -> tuple[str, list, dict]:
    """``(source, generations, {series name: values})`` for the fitness chart.

    From the logbook: ``max`` as best and ``mean`` (or every other numeric
    column a multi-objective logbook has). Without one, from the store: the
    best so far and the mean of the candidates first evaluated in each generation.
    """
    if run.logbook:
        xs, series = _logbook_series(run.logbook)
        if xs and series:
            return "logbook.csv", xs, series
    by_generation = {}
    for row in run.evaluations:
        value = _first(row["fitness_values"])
        if value is not None and isinstance(row.get("generation"), int):
            by_generation.setdefault(row["generation"], []).append(value)
    generations = sorted(by_generation)
    best, running = [], -math.inf
    for generation in generations:
        running = max(running, max(by_generation[generation]))
        best.append(running)
    mean = [statistics.fmean(by_generation[g]) for g in generations]
    series = {"best so far": best, "mean of new candidates": mean} if generations else {}
    return "results.sqlite", generations, series


def _logbook_series(rows) -> tuple[list, dict]:
    x_name = next((name for name in ("gen", "generation") if name in rows[0]), None)
    xs = [_as_float(row.get(x_name)) if x_name else float(n) for n, row in enumerate(rows)]
    columns = [name for name in rows[0] if name and name not in _BOOKKEEPING_COLUMNS]
    if "max" in columns and "mean" in columns:
        columns = ["max", "mean"]
    series = {}
    for name in columns:
        values = [_as_float(row.get(name)) for row in rows]
        if any(v is not None for v in values):
            series["best" if name == "max" and "mean" in columns else name] = values
    return xs, series


def _as_float(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def minimised(name: str, index: int) -> bool:
    """Whether objective ``name`` (at ``index``) is minimised; unknown names go by position, as the package orders them."""
    if name.lower() in _MINIMISED or name.lower() in _MAXIMISED:
        return name.lower() in _MINIMISED
    return index > 0


def pareto_points(run: RunData) -> tuple[list, list, list]:
    """``(objective names, every evaluated point, front points)``; points are ``(genome, values)``.

    The front is the store's ``pareto_front`` table when there is one, else
    the non-dominated ``ok`` rows; failed candidates (worst-size values) are left out.
    """
    rows = [r for r in run.evaluations if r["status"] == "ok" and r["fitness_values"] and len(r["fitness_values"]) > 1]
    points = [(r["genome"], r["fitness_values"]) for r in rows if _plottable(r["fitness_values"])]
    names = run.objectives
    if run.front:
        front = [(m["genome"], m["fitness"]) for m in run.front if m["fitness"] and _plottable(m["fitness"])]
    else:
        front = non_dominated(points, names)
    width = len(front[0][1]) if front else len(points[0][1]) if points else 0
    if len(names) != width:
        names = [f"objective {n + 1}" for n in range(width)]
    return names, points, front


def _plottable(values) -> bool:
    return all(math.isfinite(v) and abs(v) < _FAILED_SIZE for v in values)


def non_dominated(points, names) -> list:
    """The points no other point dominates (at least as good everywhere, better somewhere)."""

    def oriented(values):
        """The values with every objective turned into one to maximise."""
        return [-v if minimised(names[n] if n < len(names) else "", n) else v for n, v in enumerate(values)]

    scored = [(genome, values, oriented(values)) for genome, values in points]
    return [
        (genome, values)
        for genome, values, mine in scored
        if not any(
            len(theirs) == len(mine) and all(t >= m for t, m in zip(theirs, mine)) and theirs != mine
            for _, _, theirs in scored
        )
    ]


def failure_groups(evaluations) -> list[tuple[str, str, list]]:
    """``(status, first line of the error, rows)`` per cause of failure, most frequent first."""
    groups = {}
    for row in evaluations:
        if row["status"] != "ok":
            error = str(row.get("error") or "").strip()
            cause = error.splitlines()[0] if error else "(no error message)"
            groups.setdefault((row["status"], cause), []).append(row)
    return sorted(((s, c, rows) for (s, c), rows in groups.items()), key=lambda group: -len(group[2]))


_KEY_VALUE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=(.+?)\s*$")


def gene_values(genome: str) -> dict | None:
    """``{gene: value}`` of a genome's ``key=value`` genes, or ``None`` if it has none.

    These are the hyperparameter genes after the last ``|`` of an
    ``ARCH|HYPER`` text (``...|lr=0.01,wd=0.0005,bs=128,opt=sgd,...``) and the
    transfer family's genes (``keep=42,freeze=10,lr=0.000316,drop=0.35``).
    Numbers come back as floats, other values as text.
    """
    part = genome.rpartition("|")[2]
    items = [_KEY_VALUE.match(item) for item in part.split(",")]
    if not part or not all(items):
        return None
    return {match[1]: _as_float(match[2]) if _as_float(match[2]) is not None else match[2] for match in items}


# ---------------------------------------------------------------------------
# Genome diagrams: one box per unit
# ---------------------------------------------------------------------------


@dataclass
class Unit:
    """One box of a genome diagram."""

    title: str
    detail: str = ""
    colour: str = GREY
    off: bool = False


def genome_units(text: str) -> list[Unit]:
    """The units of a genome text, for any family; an unknown text gives one box per ``-`` token."""
    text = text.strip()
    if gene_values(text) is not None and "|" not in text:
        return [Unit(key, _format_gene(value), PURPLE) for key, value in gene_values(text).items()]
    arch, hyper = text, None
    if "|" in text and gene_values(text) is not None:
        arch, _, hyper = text.rpartition("|")
    units = _devol_units(arch) or _token_units(arch)
    if hyper:
        units.append(Unit("hyperparameters", " ".join(hyper.split(",")), PURPLE))
    return units


def _format_gene(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_CNN_GA = re.compile(r"^(?:S(?P<width>[0-9]+)|P(?P<pool>[a-z]+))$")
_DENSE_LAYER = re.compile(r"^(?P<units>[0-9]+):(?P<act>[a-z_]+):(?P<drop>[0-9.e-]+)$")
_DEVOL_LAYER = re.compile(r"^(?P<kind>[CD])(?P<on>[+-])(?P<size>[0-9]+),(?P<rest>.*)$")


def _token_units(text: str) -> list[Unit]:
    """CNN-GA (``S64-Pmax``), dense (``256:relu:0.2``) or unknown tokens, split on ``-``."""
    units = []
    for token in _split_dashes(text):
        cnn, dense = _CNN_GA.match(token), _DENSE_LAYER.match(token)
        if cnn and cnn["width"]:
            units.append(Unit(f"skip {cnn['width']}", "2 conv 3x3 + shortcut", BLUE))
        elif cnn:
            units.append(Unit(f"{cnn['pool']} pool", "2x2, stride 2", ORANGE))
        elif dense:
            units.append(Unit(f"dense {dense['units']}", f"{dense['act']}, dropout {dense['drop']}", GREEN))
        else:
            units.append(Unit(token or "(empty)"))
    return units


def _split_dashes(text: str) -> list[str]:
    """Split on ``-``, but not on an exponent's minus (a dropout of ``1e-05``)."""
    return re.split(r"(?<![0-9]e)-", text) if text else []


def _devol_units(text: str) -> list[Unit]:
    """DEvol's ``C+32,relu,0.25,bn,mp|D-64,...|adam``: a box per layer (off layers faded), then the optimiser."""
    tokens = text.split("|")
    if len(tokens) < 2 or not all(_DEVOL_LAYER.match(token) for token in tokens[:-1]):
        return []
    units = []
    for token in tokens[:-1]:
        match = _DEVOL_LAYER.match(token)
        parts = match["rest"].split(",")
        detail = ", ".join(part for part in parts if part != "-")
        kind = "conv" if match["kind"] == "C" else "dense"
        colour = BLUE if kind == "conv" else GREEN
        units.append(Unit(f"{kind} {match['size']}", detail, colour, off=match["on"] == "-"))
    units.append(Unit("optimiser", tokens[-1], PURPLE))
    return units


# ---------------------------------------------------------------------------
# SVG: charts drawn here, so the page needs no plotting library
# ---------------------------------------------------------------------------


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float) -> str:
    """A short, readable number for axes and cells."""
    if value is None or not math.isfinite(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.3g}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude == 0 or magnitude >= 0.01:
        return f"{value:.4g}"
    return f"{value:.2e}"


class Scale:
    """Maps data values in ``[low, high]`` to pixels in ``[start, end]`` (log10 if ``log``).

    ``snap`` widens a linear range to whole tick steps, so no point lies beyond the outer ticks.
    """

    def __init__(self, low, high, start, end, log=False, snap=False):
        self.log = log and low > 0
        if self.log:
            low, high = math.log10(low), math.log10(high)
        if high - low < 1e-12:
            pad = abs(low) * 0.05 or 0.5
            low, high = low - pad, high + pad
        if snap and not self.log:
            step = _nice_step((high - low) / 4)
            low, high = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value) -> float:
        value = math.log10(value) if self.log else value
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)

    def ticks(self, count=5) -> list:
        if self.log:
            return [10.0**p for p in range(math.ceil(self.low), math.floor(self.high) + 1)] or [10**self.low]
        step = _nice_step((self.high - self.low) / max(count - 1, 1))
        first = math.ceil(self.low / step - 1e-9) * step  # the tolerance keeps a snapped bound's tick
        return [first + n * step for n in range(int((self.high - first) / step + 1e-9) + 1)]


def _nice_step(raw: float) -> float:
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


@dataclass
class Frame:
    """A chart's size and margins; ``x``/``y`` are the plot area's pixel ranges."""

    width: int = 720
    height: int = 310
    left: int = 60
    right: int = 16
    top: int = 30
    bottom: int = 42

    @property
    def x(self):
        return self.left, self.width - self.right

    @property
    def y(self):
        return self.height - self.bottom, self.top


def _span(values, pad=0.05):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    extra = (high - low) * pad
    return low - extra, high + extra


def _axes(frame: Frame, xs: Scale, ys: Scale, x_label: str, y_label: str, x_ticks=None) -> list[str]:
    """Grid lines, tick labels and axis titles; ``x_ticks`` is ``[(value, label)]`` for categories."""
    parts = []
    for value in ys.ticks():
        y = ys(value)
        parts.append(f'<line x1="{frame.left}" x2="{frame.x[1]}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(_fmt(value))}</text>')
    for value, label in x_ticks or [(v, _fmt(v)) for v in xs.ticks()]:
        x = xs(value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.y[0]}" y2="{frame.y[0] + 4}" stroke="{MUTED}"/>')
        parts.append(f'<text x="{x:.1f}" y="{frame.y[0] + 17}" text-anchor="middle">{_e(label)}</text>')
    parts.append(
        f'<line x1="{frame.left}" x2="{frame.x[1]}" y1="{frame.y[0]}" y2="{frame.y[0]}" stroke="{MUTED}"/>'
        f'<text x="{(frame.left + frame.x[1]) / 2:.1f}" y="{frame.height - 6}" text-anchor="middle" '
        f'class="axis-title">{_e(x_label)}</text>'
        f'<text transform="translate(13 {(frame.top + frame.y[0]) / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'class="axis-title">{_e(y_label)}</text>'
    )
    return parts


def _svg(frame: Frame, parts, label: str, css_class="chart") -> str:
    return (
        f'<svg class="{css_class}" viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" '
        f'height="{frame.height}" role="img" aria-label="{_e(label)}">' + "".join(parts) + "</svg>"
    )


def _polyline(points, colour, width=2.0, opacity=1.0, title="") -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    tip = f"<title>{_e(title)}</title>" if title else ""
    return (
        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="{width}" '
        f'stroke-opacity="{opacity}" stroke-linejoin="round">{tip}</polyline>'
    )


def line_chart(xs, series: dict, x_label: str, y_label: str, colours=(BLUE, ORANGE, GREEN, PURPLE, RED)) -> str:
    """Lines with markers, one per series (values may hold ``None`` gaps), and a legend."""
    frame = Frame()
    x_scale = Scale(*_span(xs, 0), *frame.x)
    y_scale = Scale(*_span([v for values in series.values() for v in values], 0.02), *frame.y, snap=True)
    parts = _axes(frame, x_scale, y_scale, x_label, y_label, _integer_ticks(xs))
    for n, (name, values) in enumerate(series.items()):
        colour = colours[n % len(colours)]
        points = [(x_scale(x), y_scale(v)) for x, v in zip(xs, values) if x is not None and v is not None]
        parts.append(_polyline(points, colour, title=name))
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points]
        parts.append(_legend(frame, n, name, colour))
    return _svg(frame, parts, f"{y_label} per {x_label}")


def _legend(frame: Frame, n: int, name: str, colour: str) -> str:
    """Legend entry ``n``, in a row above the plot area."""
    x, y = frame.left + 170 * n, frame.top - 16
    return (
        f'<rect x="{x}" y="{y - 4}" width="14" height="4" fill="{colour}"/>'
        f'<text x="{x + 19}" y="{y + 1}">{_e(name)}</text>'
    )


def _integer_ticks(xs):
    """Whole-number ticks for generations and epochs, at most about ten of them."""
    values = [x for x in xs if x is not None]
    if not values or any(x != int(x) for x in values):
        return None
    low, high = int(min(values)), int(max(values))
    step = max(1, math.ceil((high - low + 1) / 10))
    return [(v, str(v)) for v in range(low, high + 1, step)]


def sparkline(values, width=110, height=26) -> str:
    """A tiny validation curve: one point per epoch, the last one marked."""
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return ""
    frame = Frame(width=width, height=height, left=2, right=4, top=3, bottom=3)
    x_scale = Scale(0, max(len(values) - 1, 1), *frame.x)
    y_scale = Scale(min(values), max(values), *frame.y)
    points = [(x_scale(n), y_scale(v)) for n, v in enumerate(values)]
    title = "validation accuracy per epoch: " + ", ".join(_fmt(v) for v in values)
    parts = [
        _polyline(points, BLUE, 1.5, title=title),
        f'<circle cx="{points[-1][0]:.1f}" cy="{points[-1][1]:.1f}" r="2" fill="{BLUE}"/>',
    ]
    return _svg(frame, parts, title, "spark")


def curves_chart(evaluations, best) -> str:
    """Every candidate's validation curve, faint, with the best one drawn bold on top."""
    curves = [(row, [v for v in row["curve"] if math.isfinite(v)]) for row in evaluations]
    curves = [(row, curve) for row, curve in curves if curve]
    frame = Frame()
    longest = max(len(curve) for _, curve in curves)
    x_scale = Scale(0.8, longest + 0.2, *frame.x)  # a margin, so one-epoch curves stand clear of the axis
    y_scale = Scale(*_span([v for _, curve in curves for v in curve], 0.02), *frame.y, snap=True)
    parts = _axes(frame, x_scale, y_scale, "epoch", "validation accuracy", _integer_ticks(range(1, longest + 1)))
    ordered = sorted(curves, key=lambda item: item[0] is best)  # the best last, so it is drawn on top
    for row, curve in ordered:
        points = [(x_scale(n + 1), y_scale(v)) for n, v in enumerate(curve)]
        colour, width, opacity = (RED, 3, 1.0) if row is best else (GREY, 1.2, 0.55)
        title = f"best: {row['genome']}" if row is best else row["genome"]
        parts.append(_polyline(points, colour, width, opacity, title))
        end_x, end_y = points[-1]  # a mark at the end, so one-epoch curves show too
        parts.append(
            f'<circle cx="{end_x:.1f}" cy="{end_y:.1f}" r="{width + 1}" fill="{colour}" fill-opacity="{opacity}">'
            f"<title>{_e(title)}</title></circle>"
        )
    if best is not None and best["curve"]:
        parts.append(_legend(frame, 0, "best candidate", RED))
    return _svg(frame, parts, "validation accuracy per epoch of every candidate")


def scatter_chart(
    points, x_label, y_label, highlight=(), log_x=False, categories=None, staircase=False, small=False
) -> str:
    """Points ``(x, y, tooltip)``; ``highlight`` ones drawn red (joined by a step line if ``staircase``).

    ``categories`` lists the labels of a categorical x axis (x values are then their indices);
    ``small`` draws a thumbnail, one of a grid.
    """
    small = small or bool(categories)
    frame = Frame(width=300, height=210, left=52, top=14, bottom=40) if small else Frame(height=330)
    all_points = list(points) + list(highlight)
    xs = [p[0] for p in all_points]
    log_x = log_x and xs and min(xs) > 0 and max(xs) / min(xs) > 100
    if categories:
        x_scale, x_ticks = Scale(-0.5, len(categories) - 0.5, *frame.x), list(enumerate(categories))
    else:
        low, high = _span(xs, 0.0 if log_x else 0.05)
        x_scale, x_ticks = Scale(low, high, *frame.x, log=log_x), None
    y_scale = Scale(*_span([p[1] for p in all_points], 0.02), *frame.y, snap=True)
    parts = _axes(frame, x_scale, y_scale, x_label, y_label, x_ticks)
    for x, y, tip in points:
        parts.append(
            f'<circle cx="{x_scale(x):.1f}" cy="{y_scale(y):.1f}" r="4" fill="{BLUE}" fill-opacity="0.55">'
            f"<title>{_e(tip)}</title></circle>"
        )
    if staircase and len(highlight) > 1:
        parts.append(_polyline(_steps([(x_scale(x), y_scale(y)) for x, y, _ in highlight]), RED, 1.5, 0.6))
    for x, y, tip in highlight:
        parts.append(
            f'<circle cx="{x_scale(x):.1f}" cy="{y_scale(y):.1f}" r="5.5" fill="{RED}" stroke="white">'
            f"<title>{_e(tip)}</title></circle>"
        )
    return _svg(frame, parts, f"{y_label} against {x_label}", "chart small" if small else "chart")


def _steps(points) -> list:
    """A front's boundary: from each point across to the next one's x, then up or down to it."""
    ordered = sorted(points)
    corners = [ordered[0]]
    for (_, y), (next_x, next_y) in itertools.pairwise(ordered):
        corners += [(next_x, y), (next_x, next_y)]
    return corners


def genome_diagram(text: str) -> str:
    """The genome's units as boxes, input on the left, joined by arrows, wrapped over rows."""
    units = genome_units(text)
    box_w, box_h, gap, per_row = 128, 54, 26, 6
    rows = math.ceil(len(units) / per_row) or 1
    width = min(len(units), per_row) * (box_w + gap) + 70
    height = rows * (box_h + 22) + 8
    parts = [f'<text x="4" y="{box_h / 2 + 12:.0f}" class="muted">input</text>']
    for n, unit in enumerate(units):
        row, col = divmod(n, per_row)
        x, y = 46 + col * (box_w + gap), 6 + row * (box_h + 22)
        dash = ' stroke-dasharray="4 3"' if unit.off else ""
        fill_opacity = 0.06 if unit.off else 0.14
        group = '<g class="off">' if unit.off else "<g>"
        parts.append(
            f"{group}<title>{_e(unit.title)} {_e(unit.detail)}"
            f"{' (off)' if unit.off else ''}</title>"
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{unit.colour}" '
            f'fill-opacity="{fill_opacity}" stroke="{unit.colour}" stroke-width="1.5"{dash}/>'
            f'<text x="{x + box_w / 2}" y="{y + 22}" text-anchor="middle" class="unit-title">{_e(_clip(unit.title, 18))}'
            f"</text>"
            f'<text x="{x + box_w / 2}" y="{y + 40}" text-anchor="middle" class="unit-detail">'
            f"{_e(_clip(unit.detail, 22))}</text></g>"
        )
        if col < per_row - 1 and n < len(units) - 1:
            ax = x + box_w + 3
            parts.append(f'<path d="M{ax} {y + box_h / 2} h{gap - 8} m-5 -4 l5 4 l-5 4" fill="none" stroke="{MUTED}"/>')
    frame = Frame(width=width, height=height)
    return _svg(frame, parts, f"architecture {text}", "diagram")


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


def render_html(run_dir, live=False) -> str:
    """The report page of a run folder as a string; ``live`` adds the self-refresh of :func:`serve`."""
    run = read_run(run_dir)
    best = best_evaluation(run.evaluations, run.best.get("genome"))
    sections = [
        ("Status", _status_section),
        ("Settings", _settings_section),
        ("Fitness per generation", _fitness_section),
        ("Best architecture", lambda r: _best_section(r, best)),
        ("Validation curves", lambda r: _curves_section(r, best)),
        ("Pareto front", _front_section),
        ("Genes against fitness", _genes_section),
        ("Failures", _failures_section),
        ("Evaluations", lambda r: _evaluations_section(r, best)),
    ]
    body = "".join(_section(title, draw, run) for title, draw in sections)
    title = f"Run report: {run.folder.resolve().name}"
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    live_flag = ' data-live="1"' if live else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body data-state="{_e(run.state)}"{live_flag}>'
        f'<main><header><h1>{_e(title)}</h1><p class="muted">{_e(run.folder.resolve())} · '
        f"report made {generated}{' · refreshes while the run is running' if live else ''}</p></header>"
        f"{body}</main><script>{_SCRIPT}</script></body></html>\n"
    )


def _section(title: str, draw, run: RunData) -> str:
    """One ``<section>``; a section that cannot be drawn says why instead of breaking the page."""
    try:
        content = draw(run)
    except Exception as error:  # noqa: BLE001 - a partial or odd folder must still give a page
        content = f'<p class="problem">This part could not be drawn: {_e(type(error).__name__)}: {_e(error)}</p>'
    if not content:
        return ""
    anchor = re.sub(r"[^a-z]+", "-", title.lower()).strip("-")
    return f'<section id="section-{anchor}"><h2>{_e(title)}</h2>{content}</section>'


def _status_section(run: RunData) -> str:
    state = run.state
    parts = [f'<p><span class="state state-{_e(state)}">{_e(state)}</span>']
    if run.status.get("message"):
        parts.append(f" {_e(run.status['message'])}")
    parts.append("</p>")
    updated = _as_float(run.status.get("updated"))
    facts = []
    if updated is not None:
        ago = max(0.0, time.time() - updated)
        facts.append(("updated", f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(updated))} ({_ago(ago)} ago)"))
    for key in ("family", "strategy"):
        if run.status.get(key):
            facts.append((key, run.status[key]))
    if run.objectives:
        facts.append(("objectives", ", ".join(run.objectives)))
    ok = sum(row["status"] == "ok" for row in run.evaluations)
    facts.append(("evaluations", f"{len(run.evaluations)} ({ok} ok, {len(run.evaluations) - ok} failed)"))
    parts.append(_key_values(facts))
    resume = run.status.get("resume")
    if resume:
        emphasis = state in ("interrupted", "failed")
        parts.append(
            f'<div class="resume{" urgent" if emphasis else ""}"><p>'
            f"{'Continue this run with:' if emphasis else 'Resume command:'}</p><pre>{_e(resume)}</pre></div>"
        )
    if not run.status:
        parts.append('<p class="muted">No status.json: whether the run is still going is unknown.</p>')
    if run.missing:
        items = "".join(f"<li><code>{_e(name)}</code>: {_e(RUN_FILES[name])}</li>" for name in run.missing)
        parts.append(f'<p>Missing from the folder, so not shown:</p><ul class="missing">{items}</ul>')
    for problem in run.problems:
        parts.append(f'<p class="problem">{_e(problem)}</p>')
    files = ", ".join(f"{_e(name)} ({_e(_size(size))})" for name, size in run.files.items() if name != REPORT_NAME)
    parts.append(f'<p class="muted">Files: {files or "none"}</p>')
    return "".join(parts)


def _ago(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f} {unit}"
    return f"{seconds:.0f} s"


def _size(size: int) -> str:
    for unit, length in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= length:
            return f"{size / length:.1f} {unit}"
    return f"{size} B"


def _key_values(pairs) -> str:
    rows = "".join(f"<tr><th>{_e(key)}</th><td>{_e(_plain(value))}</td></tr>" for key, value in pairs)
    return f'<table class="facts">{rows}</table>'


def _plain(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _fmt(value) if abs(value) >= 1e4 else f"{value:g}"
    return json.dumps(value, default=str)


def _settings_section(run: RunData) -> str:
    if not run.config:
        return '<p class="muted">No settings: config.json is missing and the store holds none.</p>'
    parts = [f'<p class="muted">From {_e(run.config_source)}.</p>', _key_values(sorted(run.config.items()))]
    if run.best:
        parts.append("<h3>Result (best.json)</h3>" + _key_values(run.best.items()))
    return "".join(parts)


def _fitness_section(run: RunData) -> str:
    source, xs, series = generation_series(run)
    if not series:
        return '<p class="muted">Nothing to plot yet: no logbook.csv and no scored evaluations with a generation.</p>'
    note = "" if source == "logbook.csv" else " (no logbook.csv: computed from the evaluations in the store)"
    return f'<p class="muted">From {_e(source)}{_e(note)}.</p>' + line_chart(xs, series, "generation", "fitness")


def _best_section(run: RunData, best) -> str:
    genome = best["genome"] if best else str(run.best.get("genome") or "")
    if not genome and run.front:
        genome = run.front[0]["genome"]
    if not genome:
        return '<p class="muted">No architecture has been scored yet.</p>'
    facts = [("genome", genome)]
    if best:
        facts += [
            ("fitness", _fitness_text(best)),
            ("parameters", best.get("parameters")),
            ("generation", best.get("generation")),
        ]
    facts = [(key, value) for key, value in facts if value is not None]
    return genome_diagram(genome) + _key_values(facts)


def _curves_section(run: RunData, best) -> str:
    if not any(row["curve"] for row in run.evaluations):
        return ""
    return (
        '<p class="muted">Validation accuracy after each epoch, one line per candidate; hover for the genome.</p>'
        + curves_chart(run.evaluations, best)
    )


def _front_section(run: RunData) -> str:
    names, points, front = pareto_points(run)
    if not front and not points:
        return ""
    x_name, y_name = (names[1], names[0]) if len(names) > 1 else ("objective 2", "objective 1")
    shown = {genome for genome, _ in front}
    others = [(v[1], v[0], f"{g}: {_values_text(v)}") for g, v in points if g not in shown]
    highlight = [(v[1], v[0], f"{g}: {_values_text(v)}") for g, v in front]
    source = "the store's pareto_front table" if run.front else "the non-dominated evaluations"
    note = f"; showing {y_name} against {x_name}" if len(names) > 2 else ""
    chart = scatter_chart(others, _direction(x_name, 1), _direction(y_name, 0), highlight, log_x=True, staircase=True)
    rows = "".join(
        f"<tr><td><code>{_e(g)}</code></td>" + "".join(f"<td>{_e(_fmt(v))}</td>" for v in values) + "</tr>"
        for g, values in front
    )
    head = "".join(f"<th>{_e(name)}</th>" for name in names)
    return (
        f'<p class="muted">Front ({len(front)} members, red) from {_e(source)}{_e(note)}; '
        f"blue: other evaluated candidates.</p>{chart}"
        f'<table class="plain"><thead><tr><th>genome</th>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


def _direction(name: str, index: int) -> str:
    return f"{name} ({'minimised' if minimised(name, index) else 'maximised'})"


def _values_text(values) -> str:
    return ", ".join(_fmt(v) for v in values)


def _genes_section(run: RunData) -> str:
    scored = []
    for row in run.evaluations:
        genes, value = gene_values(row["genome"]), _first(row["fitness_values"])
        if genes and value is not None and row["status"] == "ok":
            scored.append((row["genome"], genes, value))
    if not scored:
        return ""
    names = list(dict.fromkeys(name for _, genes, _ in scored for name in genes))
    charts = [_gene_chart(name, scored) for name in names]
    return (
        '<p class="muted">One point per scored candidate; hover for the genome.</p><div class="grid">'
        + "".join(charts)
        + "</div>"
    )


def _gene_chart(name: str, scored) -> str:
    values = [(genes[name], fitness, genome) for genome, genes, fitness in scored if name in genes]
    if all(isinstance(v, float) for v, _, _ in values):
        points = [(v, fitness, f"{genome}: {fitness:.4g}") for v, fitness, genome in values]
        spread = [v for v, _, _ in values if v > 0]
        return scatter_chart(points, name, "fitness", log_x=len(spread) == len(values), small=True)
    categories = sorted({str(v) for v, _, _ in values})
    points = [(categories.index(str(v)), fitness, f"{genome}: {fitness:.4g}") for v, fitness, genome in values]
    return scatter_chart(points, name, "fitness", categories=categories)


def _failures_section(run: RunData) -> str:
    groups = failure_groups(run.evaluations)
    if not groups:
        return '<p class="muted">No failed evaluations.</p>' if run.evaluations else ""
    parts = []
    for status, cause, rows in groups:
        genomes = "".join(f"<li><code>{_e(row['genome'])}</code></li>" for row in rows)
        parts.append(
            f'<div class="failure"><p><span class="state state-failed">{_e(status)}</span> '
            f'<strong class="count">{len(rows)}</strong> × <code>{_e(cause)}</code></p><ul>{genomes}</ul></div>'
        )
    return "".join(parts)


def _evaluation_columns():
    """The evaluation table's columns: ``(title, row -> (sort key or None, cell HTML))``."""
    return [
        ("#", lambda r: (r.get("id"), _e(r.get("id", "")))),
        ("genome", lambda r: (r["genome"], f"<code>{_e(r['genome'])}</code>")),
        ("fitness", lambda r: (_first(r["fitness_values"]) if r["fitness_values"] else None, _e(_fitness_text(r)))),
        ("validation curve", lambda r: (r["curve"][-1] if r["curve"] else None, sparkline(r["curve"]) or "–")),
        ("parameters", lambda r: _number_cell(r.get("parameters"))),
        ("FLOPs", lambda r: _number_cell(r.get("flops"))),
        ("seconds", lambda r: _number_cell(r.get("seconds"), "{:.1f}")),
        ("epochs", lambda r: _number_cell(r.get("epochs"), "{:.0f}")),
        (
            "status",
            lambda r: (
                r["status"],
                f'<span class="state state-{"ok" if r["status"] == "ok" else "failed"}">{_e(r["status"])}</span>',
            ),
        ),
        ("error", lambda r: (r.get("error") or "", _e(_clip(str(r.get("error") or ""), 160)))),
        ("worker", lambda r: (r.get("worker") or "", _e(r.get("worker") or ""))),
        ("generation", lambda r: _number_cell(r.get("generation"), "{:.0f}")),
    ]


def _fitness_text(row) -> str:
    values = row["fitness_values"]
    if values is None:
        return str(row.get("fitness") or "")
    return ", ".join(_fitness_value(v) for v in values)


def _fitness_value(value: float) -> str:
    """Accuracies with four decimals, counts (parameters, FLOPs) as whole numbers."""
    if math.isfinite(value) and value == int(value) and abs(value) >= 10:
        return f"{value:.0f}" if abs(value) < 1e6 else _fmt(value)
    return f"{value:.4f}"


def _number_cell(value, pattern=None):
    number = _as_float(value) if not isinstance(value, bool) else None
    if number is None:
        return None, _e(value if value is not None else "")
    return number, _e(pattern.format(number) if pattern else _fmt(number))


def _evaluations_section(run: RunData, best) -> str:
    if not run.evaluations:
        reason = "results.sqlite is missing" if "results.sqlite" in run.missing else "the store holds none yet"
        return f'<p class="muted">No evaluations: {_e(reason)}.</p>'
    columns = _evaluation_columns()
    head = "".join(
        f'<th scope="col" data-column="{n}" tabindex="0">{_e(name)}</th>' for n, (name, _) in enumerate(columns)
    )
    rows = []
    for row in run.evaluations:
        cells = []
        for _, read in columns:
            key, content = read(row)
            sort = "" if key is None else f' data-sort="{_e(key)}"'
            cells.append(f"<td{sort}>{content}</td>")
        classes = "evaluation" + ("" if row["status"] == "ok" else " failed") + (" best" if row is best else "")
        rows.append(f'<tr class="{classes}">{"".join(cells)}</tr>')
    return (
        '<p class="controls"><label>Filter <input type="search" id="evaluation-filter" '
        'placeholder="genome, status, error, worker…" autocomplete="off"></label> '
        f'<span id="evaluation-count" class="muted">{len(rows)} evaluations</span> '
        '<span class="muted">· click a column title to sort</span></p>'
        f'<div class="table-wrap"><table id="evaluations"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


_CSS = f"""
:root {{ color-scheme: light; }}
body {{ margin: 0; background: #f6f7f9; color: {INK};
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }}
main {{ max-width: 1200px; margin: 0 auto; padding: 18px 22px 40px; }}
h1 {{ font-size: 1.5rem; margin: 0 0 2px; }}
h2 {{ font-size: 1.15rem; margin: 0 0 10px; border-bottom: 1px solid {GRID}; padding-bottom: 4px; }}
h3 {{ font-size: 1rem; margin: 14px 0 6px; }}
section {{ background: white; border: 1px solid {GRID}; border-radius: 8px; padding: 14px 18px; margin: 14px 0; }}
code, pre {{ font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.86em; }}
code {{ word-break: break-all; }}
.muted {{ color: {MUTED}; }}
.problem {{ color: {RED}; }}
.state {{ display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600; font-size: 0.85em;
  background: {GRID}; color: {INK}; }}
.state-running {{ background: #dbeafe; color: #1e40af; }}
.state-finished, .state-ok {{ background: #dcfce7; color: #166534; }}
.state-interrupted {{ background: #fef3c7; color: #92400e; }}
.state-failed {{ background: #fee2e2; color: #991b1b; }}
.resume {{ border-left: 4px solid {BLUE}; padding: 4px 12px; margin: 10px 0; background: #f1f5fe; }}
.resume.urgent {{ border-color: {ORANGE}; background: #fff8eb; }}
.resume p {{ margin: 4px 0; font-weight: 600; }}
.resume pre {{ white-space: pre-wrap; word-break: break-all; margin: 4px 0 6px; user-select: all; }}
table {{ border-collapse: collapse; }}
.facts th {{ text-align: left; font-weight: 600; padding: 2px 16px 2px 0; vertical-align: top; }}
.facts td {{ padding: 2px 0; word-break: break-word; }}
table.plain th, table.plain td, #evaluations th, #evaluations td {{ padding: 5px 8px; border-bottom: 1px solid {GRID};
  text-align: left; vertical-align: middle; }}
.table-wrap {{ overflow-x: auto; }}
#evaluations {{ width: 100%; font-size: 0.9em; }}
#evaluations th {{ background: #eef1f5; cursor: pointer; white-space: nowrap; user-select: none; position: sticky; top: 0; }}
#evaluations th[aria-sort="ascending"]::after {{ content: " ▲"; }}
#evaluations th[aria-sort="descending"]::after {{ content: " ▼"; }}
#evaluations tr.failed td {{ background: #fff5f5; }}
#evaluations tr.best td {{ background: #f0fdf4; }}
#evaluations td:nth-child(2) {{ max-width: 340px; }}
#evaluations td:nth-child(10) {{ max-width: 260px; color: {RED}; font-size: 0.92em; }}
.controls input {{ font: inherit; padding: 4px 8px; width: 22em; border: 1px solid #c5ccd6; border-radius: 6px; }}
svg {{ max-width: 100%; height: auto; font-size: 11px; fill: {INK}; }}
svg.chart text, svg.diagram text {{ fill: {INK}; }}
svg .axis-title {{ font-size: 12px; fill: {MUTED}; }}
svg .unit-title {{ font-size: 13px; font-weight: 600; }}
svg .unit-detail {{ font-size: 10.5px; fill: {MUTED}; }}
svg .muted {{ fill: {MUTED}; }}
svg g.off text {{ fill: {GREY}; }}
svg.spark {{ vertical-align: middle; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.failure ul {{ margin: 2px 0 10px; columns: 2; }}
ul.missing {{ margin-top: 0; }}
@media print {{
  body {{ background: white; font-size: 10pt; }}
  main {{ max-width: none; padding: 0; }}
  section {{ border: none; padding: 0; margin: 0 0 14pt; break-inside: auto; }}
  .controls, #evaluation-filter {{ display: none; }}
  .table-wrap {{ overflow: visible; }}
  #evaluations {{ font-size: 7.5pt; }}
  #evaluations th {{ position: static; }}
  #evaluations tr {{ display: table-row !important; break-inside: avoid; }}
  svg.chart, svg.diagram {{ break-inside: avoid; }}
  h2 {{ break-after: avoid; }}
}}
"""

# Sorting (click or Enter on a column title), filtering, and, on a served page whose
# run is running, swapping in a freshly rendered <main> every few seconds.
_SCRIPT = """
(function () {
  "use strict";
  var sortState = {column: null, descending: false};

  function cellKey(row, column) {
    var cell = row.cells[column];
    var key = cell && cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : null;
    if (key === null || key === "") return {missing: true};
    var number = Number(key);
    return isNaN(number) ? {text: key.toLowerCase()} : {number: number};
  }

  function compare(a, b) {
    if (a.missing || b.missing) return a.missing === b.missing ? 0 : (a.missing ? 1 : -1);
    if (a.number !== undefined && b.number !== undefined) return a.number - b.number;
    var x = a.text !== undefined ? a.text : String(a.number), y = b.text !== undefined ? b.text : String(b.number);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function sortTable(table, column, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var a = cellKey(r, column), b = cellKey(s, column);
      if (a.missing || b.missing) return compare(a, b);  // empty cells last either way
      return descending ? compare(b, a) : compare(a, b);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, n) {
      if (n === column) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    sortState = {column: column, descending: descending};
  }

  function applyFilter(table, text) {
    var words = text.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var haystack = row.textContent.toLowerCase();
      var match = words.every(function (word) { return haystack.indexOf(word) >= 0; });
      row.hidden = !match;
      if (match) shown += 1;
    });
    var count = document.getElementById("evaluation-count");
    if (count) count.textContent = shown + " of " + table.tBodies[0].rows.length + " evaluations";
  }

  function initTable(previous) {
    var table = document.getElementById("evaluations");
    if (!table) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, n) {
      function activate() {
        var descending = sortState.column === n ? !sortState.descending : false;
        sortTable(table, n, descending);
      }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (event) { if (event.key === "Enter") activate(); });
    });
    var filter = document.getElementById("evaluation-filter");
    if (filter) {
      filter.addEventListener("input", function () { applyFilter(table, filter.value); });
      if (previous && previous.filter) { filter.value = previous.filter; applyFilter(table, filter.value); }
    }
    if (previous && previous.column !== null) sortTable(table, previous.column, previous.descending);
  }

  function scheduleRefresh() {
    if (document.body.getAttribute("data-live") !== "1") return;
    if (document.body.getAttribute("data-state") !== "running") return;
    setTimeout(refresh, REFRESH_MS);
  }

  function refresh() {
    fetch(window.location.pathname, {cache: "no-store"}).then(function (response) {
      return response.text();
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, "text/html");
      var main = fresh.querySelector("main");
      if (main) {
        var filter = document.getElementById("evaluation-filter");
        var previous = {filter: filter ? filter.value : "", column: sortState.column, descending: sortState.descending};
        document.querySelector("main").replaceWith(document.importNode(main, true));
        document.body.setAttribute("data-state", fresh.body.getAttribute("data-state") || "unknown");
        initTable(previous);
      }
      scheduleRefresh();
    }).catch(scheduleRefresh);
  }

  initTable(null);
  scheduleRefresh();
})();
""".replace("REFRESH_MS", str(REFRESH_SECONDS * 1000))


# ---------------------------------------------------------------------------
# Writing, serving, the command line
# ---------------------------------------------------------------------------


def write_report(run_dir, out=None) -> Path:
    """Write the report page (``RUN/report.html`` unless ``out`` names another file); return its path.

    The page is written to a temporary file beside the target and moved into
    place, so a browser (or a second report) never sees half a page.
    """
    page = render_html(run_dir)
    target = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(page)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _watched_signature(folder: Path) -> tuple:
    """What changes whenever the run writes something the page shows (the store's journal included)."""
    names = (*RUN_FILES, "best.json", "results.sqlite-journal", "results.sqlite-wal")
    signature = []
    for name in names:
        try:
            stat = (folder / name).stat()
        except OSError:
            signature.append((name, None))
        else:
            signature.append((name, stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


class ReportServer(ThreadingHTTPServer):
    """The live report of one run folder; ``port`` is the bound port, ``url`` the page's address."""

    daemon_threads = True

    def __init__(self, run_dir, host="127.0.0.1", port=8000):
        self.run_dir = Path(run_dir)
        read_run(self.run_dir)  # fail now, with the folder's problem, not on the first request
        self._cache = (None, "")
        self._lock = threading.Lock()
        self._thread = None
        super().__init__((host, port), _ReportHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def page(self) -> str:
        """The page, rendered again only when a watched file changed since the last render."""
        signature = _watched_signature(self.run_dir)
        with self._lock:
            if self._cache[0] != signature:
                self._cache = (signature, render_html(self.run_dir, live=True))
            return self._cache[1]

    def start(self) -> ReportServer:
        """Serve from a background thread and return at once; :meth:`shutdown` stops it."""
        self._thread = threading.Thread(target=self.serve_forever, name="deap-cnn-report", daemon=True)
        self._thread.start()
        return self

    def shutdown(self):
        """Stop serving (if serving from :meth:`start`) and release the port."""
        if self._thread is not None:
            super().shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()


class _ReportHandler(BaseHTTPRequestHandler):
    """``GET /`` (or ``/report.html``): the page; ``/favicon.ico``: empty; anything else: 404.

    Nothing from disk is served.
    """

    def do_GET(self):
        if self.path == "/favicon.ico":  # browsers ask for it; an empty answer keeps their consoles clean
            self._send(204, "image/x-icon", b"")
            return
        if self.path.split("?")[0] not in ("/", "/" + REPORT_NAME):
            self._send(404, "text/plain; charset=utf-8", b"not found: this server only serves the report at /\n")
            return
        try:
            body = self.server.page().encode("utf-8")
        except ReportError as error:
            self._send(503, "text/plain; charset=utf-8", f"error: {error}\n".encode())
            return
        self._send(200, "text/html; charset=utf-8", body)

    def _send(self, code: int, content_type: str, body: bytes):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # quiet: a refreshing page would fill the terminal


def serve(run_dir, host="127.0.0.1", port=8000, block=True) -> ReportServer:
    """Serve the live report of ``run_dir`` at ``http://HOST:PORT/``.

    Listens on 127.0.0.1 unless ``host`` says otherwise; ``port=0`` takes a
    free port (see the returned server's ``port``). With ``block`` (the
    default) it serves until interrupted (Ctrl-C); with ``block=False`` it
    serves from a background thread and returns the running server at once,
    to be stopped with ``server.shutdown()``.
    """
    server = ReportServer(run_dir, host, port)
    print(f"serving {run_dir} at {server.url}", flush=True)
    if not block:
        return server.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deap_cnn.runs.report",
        description="Write a run folder's report.html (self-contained), or serve it live.",
    )
    parser.add_argument("run", metavar="RUN", help="the run folder (a search's --out)")
    parser.add_argument("--serve", action="store_true", help="serve a live page instead of writing the file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on with --serve (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (0: any free port; default 8000)")
    parser.add_argument("--out", default=None, help="file to write (default RUN/report.html)")
    return parser


def main(argv=None) -> int:
    """The command line; returns the exit status (2: not a run folder, 1: the report could not be made)."""
    args = build_parser().parse_args(argv)
    try:
        if args.serve:
            serve(args.run, args.host, args.port)
        else:
            print(write_report(args.run, args.out))
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        where = f"{args.host}:{args.port}" if args.serve else (args.out or Path(args.run) / REPORT_NAME)
        fix = "choose another --port (0: any free one)" if args.serve else "choose a writable --out"
        print(
            f"error: cannot {'serve at' if args.serve else 'write'} {where} ({error.strerror or error}): {fix}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
