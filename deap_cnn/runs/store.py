"""The results store: one SQLite file per run, one row per evaluation.

Only the main process writes. Every evaluation is committed as soon as it
arrives, so a process killed at any moment loses nothing it had recorded;
SQLite's journal keeps the file consistent even when the kill lands mid-write.
The store also serves as the run's persistent fitness cache: an evaluation is
looked up by its canonical genome and the fingerprint of the evaluation
settings, and by the ``parent`` whose trained weights the candidate
started from (``''`` when it trained from scratch; ``inherited`` counts the
tensors it took over), so an inherited fitness is never served for a
from-scratch one. A lookup in a benchmark table with added noise keeps the
table's exact value beside the noisy fitness (``noise_free_fitness``).
Read it with ``sqlite3`` or ``pandas.read_sql``::

    SELECT genome, fitness, parameters, seconds FROM evaluations
    WHERE status = 'ok' ORDER BY json_extract(fitness, '$[0]') DESC LIMIT 5;
"""

from __future__ import annotations

import json
import sqlite3
import time

__all__ = ["RECORD_FIELDS", "ResultsStore", "StoreError"]

#: Columns filled from an evaluation record (``EvaluationRecord.to_dict()`` or a plain dict).
RECORD_FIELDS = (
    "genome",
    "fitness",
    "val_accuracy",
    "val_loss",
    "parameters",
    "flops",
    "seconds",
    "epochs",
    "device",
    "status",
    "error",
    "batch_size",
    "parent",
    "inherited",
    "noise_free_fitness",
    "latency_ms",
)


_JSON_FIELDS = {"fitness", "val_accuracy", "val_loss"}


_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    genome TEXT NOT NULL,
    generation INTEGER,
    worker TEXT,
    fitness TEXT NOT NULL,
    val_accuracy TEXT,
    val_loss TEXT,
    parameters INTEGER,
    flops INTEGER,
    seconds REAL,
    epochs INTEGER,
    device TEXT,
    status TEXT,
    error TEXT,
    batch_size INTEGER,
    created_at REAL NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    inherited INTEGER NOT NULL DEFAULT 0,
    noise_free_fitness REAL,
    latency_ms REAL,
    UNIQUE (fingerprint, genome, parent)
);
"""

#: Columns added since the first schema, with their definitions: :meth:`ResultsStore._migrate` adds them to old stores.
_ADDED_COLUMNS = {
    "parent": "TEXT NOT NULL DEFAULT ''",
    "inherited": "INTEGER NOT NULL DEFAULT 0",
    "noise_free_fitness": "REAL",
    "latency_ms": "REAL",
}


#: Created by :meth:`ResultsStore.save_front` only, so other stores keep the schema above.
_FRONT_SCHEMA = """
CREATE TABLE IF NOT EXISTS pareto_front (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    position INTEGER NOT NULL,
    genome TEXT NOT NULL,
    fitness TEXT NOT NULL,
    objectives TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


class StoreError(RuntimeError):
    """The results store cannot be opened or written (damaged, not SQLite, or in a read-only place)."""


class ResultsStore:
    """A run's SQLite results store (created if absent).

    ``fingerprint`` identifies the evaluation settings; rows written under
    another fingerprint are never served as cache hits.
    """

    def __init__(self, path, fingerprint: str = ""):
        self.path = str(path)
        self.fingerprint = fingerprint
        try:
            self._db = sqlite3.connect(self.path)
            self._db.executescript(_SCHEMA)
            self._migrate()
            self._db.commit()
        except sqlite3.Error as error:
            raise StoreError(
                f"results store {self.path} cannot be used ({error}): if it is damaged, restore it from a copy or "
                "start a new run in another folder; if the folder is read-only, make it writable"
            ) from None

    def _migrate(self):
        """Add the columns a store written by an older version lacks (its rows trained from scratch).

        Such a store keeps its ``UNIQUE (fingerprint, genome)``: it can go on
        with the from-scratch run it holds (a resume keeps the run's settings,
        so inheritance cannot be switched on there), not hold inherited rows.
        """
        present = {row[1] for row in self._db.execute("PRAGMA table_info(evaluations)")}
        for name, definition in _ADDED_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE evaluations ADD COLUMN {name} {definition}")

    def close(self):
        self._db.close()

    def check(self):
        """Raise :class:`StoreError` unless SQLite finds the file intact (a quick check of every page)."""
        try:
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.Error as error:
            problems = [str(error)]
        if problems != ["ok"]:
            problem = " ".join(problems[0].split())  # SQLite's report spans lines; the error is one
            raise StoreError(
                f"results store {self.path} is damaged ({problem}): restore it from a copy or start a new run "
                "in another folder"
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _unwritable(self, error):
        return StoreError(
            f"results store {self.path} cannot be written ({error}): make it and its folder writable "
            "(chattr -i, chmod u+w), then resume"
        )

    def set_settings(self, settings: dict):
        """Save the run's settings (JSON-serialisable values)."""
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                    [(key, json.dumps(value, default=str)) for key, value in settings.items()],
                )
        except sqlite3.OperationalError as error:
            raise self._unwritable(error) from None

    def settings(self) -> dict:
        return {key: json.loads(value) for key, value in self._db.execute("SELECT key, value FROM settings")}

    def add(self, record, generation=None, worker=None):
        """Commit one evaluation.

        A second row for the same genome, parent and fingerprint raises
        ``sqlite3.IntegrityError``: the cache in front of the store exists so
        that an architecture is never trained twice, and a repeat is a bug to
        surface, not to hide.
        """
        data = record.to_dict() if hasattr(record, "to_dict") else dict(record)
        data["parent"], data["inherited"] = data.get("parent") or "", data.get("inherited") or 0
        values = [json.dumps(list(data.get(f) or [])) if f in _JSON_FIELDS else data.get(f) for f in RECORD_FIELDS]
        try:
            with self._db:
                self._db.execute(
                    f"INSERT INTO evaluations (fingerprint, generation, worker, created_at, "
                    f"{', '.join(RECORD_FIELDS)}) VALUES (?, ?, ?, ?, {', '.join('?' * len(RECORD_FIELDS))})",
                    [self.fingerprint, generation, worker, time.time(), *values],
                )
        except sqlite3.OperationalError as error:
            raise self._unwritable(error) from None

    def _row_to_dict(self, row, columns):
        data = dict(zip(columns, row, strict=True))
        for field in _JSON_FIELDS:
            if data.get(field) is not None:
                data[field] = json.loads(data[field])
        data["fitness"] = tuple(data["fitness"])
        return data

    def lookup(self, genome: str, parent: str = ""):
        """The stored evaluation of ``genome`` (inheriting from ``parent``, if given) under this store's fingerprint, or ``None``."""
        cursor = self._db.execute(
            "SELECT * FROM evaluations WHERE fingerprint = ? AND genome = ? AND parent = ?",
            (self.fingerprint, str(genome), parent or ""),
        )
        row = cursor.fetchone()
        return None if row is None else self._row_to_dict(row, [c[0] for c in cursor.description])

    def records(self) -> list[dict]:
        """Every evaluation under this store's fingerprint, oldest first."""
        cursor = self._db.execute("SELECT * FROM evaluations WHERE fingerprint = ? ORDER BY id", (self.fingerprint,))
        columns = [c[0] for c in cursor.description]
        return [self._row_to_dict(row, columns) for row in cursor]

    def __len__(self):
        return self._db.execute(
            "SELECT COUNT(*) FROM evaluations WHERE fingerprint = ?", (self.fingerprint,)
        ).fetchone()[0]

    def save_front(self, front, objectives):
        """Save a Pareto front under this store's fingerprint, replacing any front saved before.

        ``front`` holds individuals (with ``fitness.values``) or ``(genome, values)``
        pairs; ``objectives`` names the values in order, e.g. ``("accuracy",
        "parameters")``. The ``pareto_front`` table is created on first use, so
        stores that never save a front keep their original schema. Saving again
        (after a resume, say) overwrites: a store holds one front per fingerprint.
        """
        names = [str(name) for name in objectives]
        rows = []
        for position, member in enumerate(front):
            genome, values = (member, member.fitness.values) if hasattr(member, "fitness") else member
            values = [float(v) for v in values]
            if len(values) != len(names):
                raise ValueError(
                    f"front member {str(genome)!r} has {len(values)} objective values {values}, "
                    f"but {len(names)} objectives were named: {names}"
                )
            rows.append((self.fingerprint, position, str(genome), json.dumps(values), json.dumps(names), time.time()))
        with self._db:
            self._db.execute(_FRONT_SCHEMA)
            self._db.execute("DELETE FROM pareto_front WHERE fingerprint = ?", (self.fingerprint,))
            self._db.executemany(
                "INSERT INTO pareto_front (fingerprint, position, genome, fitness, objectives, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def front(self) -> list[dict]:
        """The saved Pareto front under this store's fingerprint: ``genome``, ``fitness``, ``objectives`` per member."""
        exists = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'pareto_front'")
        if exists.fetchone() is None:
            return []
        cursor = self._db.execute(
            "SELECT genome, fitness, objectives FROM pareto_front WHERE fingerprint = ? ORDER BY position",
            (self.fingerprint,),
        )
        return [
            {"genome": genome, "fitness": tuple(json.loads(fitness)), "objectives": tuple(json.loads(names))}
            for genome, fitness, names in cursor
        ]
