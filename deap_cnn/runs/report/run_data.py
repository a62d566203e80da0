"""What a run folder holds, read for the report: settings, status, logbook and the store (read-only), and what follows from them."""

from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ...families.base import finite_or_none

__all__ = ["MAXIMISE", "MINIMISE", "ReportError", "RunData", "read_run"]

#: The files a run writes that the report reads, and what each one tells.
RUN_FILES = {
    "config.json": "the run's settings",
    "status.json": "whether the run is running, finished, interrupted or failed (older runs do not write it)",
    "logbook.csv": "the population's statistics per generation",
    "results.sqlite": "one row per evaluation",
}


#: Other files a run may leave; any one of these (or the above) makes a folder a run folder.
OTHER_RUN_FILES = ("checkpoint.pkl", "best.json", "best.pt", "fitness.png", "front.png")


REPORT_NAME = "report.html"


#: Logbook columns that count or time things; the chart plots the others.
_BOOKKEEPING_COLUMNS = {
    "gen",
    "generation",
    "nevals",
    "cache_hits",
    "failed",
    "seconds",
    "eval_seconds",
    "duplicates",
}


#: Objectives known to be minimised or maximised; others follow the package's order (first maximised, rest minimised).
_MINIMISED = {"parameters", "flops", "loss", "val_loss", "seconds", "latency"}


_MAXIMISED = {"accuracy", "last_accuracy", "val_accuracy", "fitness"}


#: How a run names its objectives' directions (``status.json``, ``best.json``, the store's settings).
MAXIMISE, MINIMISE = "maximise", "minimise"


#: A size at or beyond this marks a failed candidate in multi-objective runs (``multiobjective.WORST_SIZE``).
_FAILED_SIZE = 1e17


class ReportError(ValueError):
    """The folder cannot be reported on; the message names the problem and the fix."""


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
    #: The store's ``settings`` table (the run's settings plus its objectives' directions), even beside a config.json.
    store_settings: dict = field(default_factory=dict)

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
            self.store_settings.get("objectives"),
        ):
            if isinstance(names, list) and names:
                return [str(name) for name in names]
        return []

    @property
    def directions(self) -> list:
        """``"maximise"`` or ``"minimise"`` per objective: as the run recorded them, else by :func:`minimised`.

        Recorded in ``status.json``, ``best.json`` and the store's settings
        (runs older than the objectives' directions record none: their
        objectives are the built-in ones, whose names say their direction).
        """
        names = self.objectives
        for directions in (
            self.status.get("directions"),
            self.best.get("directions"),
            self.store_settings.get("directions"),
            self.config.get("directions"),
        ):
            known = isinstance(directions, list) and set(directions) <= {MAXIMISE, MINIMISE}
            if known and directions and len(directions) == len(names):
                return list(directions)
        return [MINIMISE if minimised(name, n) else MAXIMISE for n, name in enumerate(names)]

    @property
    def sign(self) -> float:
        """``-1.0`` when the first objective is minimised (lower fitness is better), else ``1.0``."""
        return -1.0 if self.directions[:1] == [MINIMISE] else 1.0

    @property
    def objective_labels(self) -> list:
        """Each objective named with its direction: ``["loss (minimised)", ...]``."""
        return [f"{name} ({direction}d)" for name, direction in zip(self.objectives, self.directions, strict=True)]

    @property
    def lookup(self) -> str:
        """The benchmark table a ``--lookup`` run scored its candidates by (its path as given), else ``""``.

        Such a run trains nothing: it has no data set, no test accuracy and no final training.
        """
        for settings in (self.config, self.store_settings):
            if settings.get("lookup"):
                return str(settings["lookup"])
        return ""


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
        run.store_settings = settings
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
        problems.append(f"logbook.csv could not be read ({error}); the population's statistics are left out")
        return []


def _read_store(path: Path, problems: list) -> tuple[dict, list, list]:
    """``(settings, evaluations, front)`` from the store, read in one short read-only transaction.

    ``mode=ro`` never creates the file and never takes a write lock; the
    reads finish at once, so a run committing evaluations waits at most for
    the few milliseconds the copy takes (and the timeout covers its commits).
    """
    try:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            timeout=5,
            isolation_level=None,
        )
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
    return (
        _settings_dict(settings),
        [_evaluation(row) for row in evaluations],
        [_front_member(r) for r in front],
    )


def _table_rows(db, table: str, order: str) -> list[dict]:
    cursor = db.execute(f"SELECT * FROM {table} {order}")
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


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


def _first(values):
    """The first fitness value if it is a finite number, else ``None``."""
    return values[0] if values and math.isfinite(values[0]) else None


def best_evaluation(evaluations, preferred=None, sign=1.0) -> dict | None:
    """The ``ok`` evaluation with the best first fitness value: the highest, the lowest with ``sign=-1``.

    ``sign`` is :attr:`RunData.sign`: ``-1.0`` when the run's first objective is minimised.

    Among ties the one whose genome is ``preferred`` (the run's own pick, from ``best.json``) wins,
    then the earliest.
    """
    scored = [row for row in evaluations if row["status"] == "ok" and _first(row["fitness_values"]) is not None]
    return max(
        scored,
        key=lambda row: (sign * _first(row["fitness_values"]), row["genome"] == preferred),
        default=None,
    )


def population_series(run: RunData) -> tuple[list, dict]:
    """``(generations, {series name: values})`` from the logbook: the population's statistics per row.

    ``max`` (``min`` when the run's first objective is minimised) and
    ``mean`` become the population's best and mean; a logbook without them
    gives every column that is not bookkeeping. Empty without a logbook: the
    store tells the best so far (:mod:`.progress`), not what a population held.
    """
    if not run.logbook:
        return [], {}
    return _logbook_series(run.logbook, "min" if run.sign < 0 else "max")


def _logbook_series(rows, best="max") -> tuple[list, dict]:
    x_name = next((name for name in ("gen", "generation") if name in rows[0]), None)
    xs = [finite_or_none(row.get(x_name)) if x_name else float(n) for n, row in enumerate(rows)]
    columns = [name for name in rows[0] if name and name not in _BOOKKEEPING_COLUMNS]
    names = {}
    if best in columns and "mean" in columns:
        columns, names = [best, "mean"], {best: "population best", "mean": "population mean"}
    series = {}
    for name in columns:
        values = [finite_or_none(row.get(name)) for row in rows]
        if any(v is not None for v in values):
            series[names.get(name, name)] = values
    return xs, series


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
        front = non_dominated(points, names, run.directions)
    width = len(front[0][1]) if front else len(points[0][1]) if points else 0
    if len(names) != width:
        names = [f"objective {n + 1}" for n in range(width)]
    return names, points, front


def _plottable(values) -> bool:
    return all(math.isfinite(v) and abs(v) < _FAILED_SIZE for v in values)


def non_dominated(points, names, directions=()) -> list:
    """The points no other point dominates (at least as good everywhere, better somewhere).

    ``directions`` (``"maximise"``/``"minimise"`` per objective, as
    :attr:`RunData.directions` gives them) when the run recorded them; else
    each objective's direction is told by :func:`minimised`.
    """

    def is_minimised(n):
        if len(directions) == len(names) and n < len(directions):
            return directions[n] == MINIMISE
        return minimised(names[n] if n < len(names) else "", n)

    def oriented(values):
        """The values with every objective turned into one to maximise."""
        return [-v if is_minimised(n) else v for n, v in enumerate(values)]

    scored = [(genome, values, oriented(values)) for genome, values in points]
    return [
        (genome, values)
        for genome, values, mine in scored
        if not any(
            len(theirs) == len(mine) and all(t >= m for t, m in zip(theirs, mine, strict=True)) and theirs != mine
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
    return sorted(
        ((s, c, rows) for (s, c), rows in groups.items()),
        key=lambda group: -len(group[2]),
    )


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
    return {match[1]: finite_or_none(match[2]) if finite_or_none(match[2]) is not None else match[2] for match in items}
