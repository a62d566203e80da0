"""The results store: one SQLite file per run, one row per evaluation.

Only the main process writes. Every evaluation is committed as soon as it
arrives, so a process killed at any moment loses nothing it had recorded;
SQLite's journal keeps the file consistent even when the kill lands mid-write.
The store also serves as the run's persistent fitness cache: an evaluation is
looked up by its canonical genome and the fingerprint of the evaluation
settings. Read it with ``sqlite3`` or ``pandas.read_sql``::

    SELECT genome, fitness, parameters, seconds FROM evaluations
    WHERE status = 'ok' ORDER BY json_extract(fitness, '$[0]') DESC LIMIT 5;
"""

from __future__ import annotations

import json
import sqlite3
import time

__all__ = ["ResultsStore", "RECORD_FIELDS"]

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
    UNIQUE (fingerprint, genome)
);
"""


class ResultsStore:
    """A run's SQLite results store (created if absent).

    ``fingerprint`` identifies the evaluation settings; rows written under
    another fingerprint are never served as cache hits.
    """

    def __init__(self, path, fingerprint: str = ""):
        self.path = str(path)
        self.fingerprint = fingerprint
        self._db = sqlite3.connect(self.path)
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_settings(self, settings: dict):
        """Save the run's settings (JSON-serialisable values)."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                [(key, json.dumps(value, default=str)) for key, value in settings.items()],
            )

    def settings(self) -> dict:
        return {key: json.loads(value) for key, value in self._db.execute("SELECT key, value FROM settings")}

    def add(self, record, generation=None, worker=None):
        """Commit one evaluation.

        A second row for the same genome and fingerprint raises
        ``sqlite3.IntegrityError``: the cache in front of the store exists so
        that an architecture is never trained twice, and a repeat is a bug to
        surface, not to hide.
        """
        data = record.to_dict() if hasattr(record, "to_dict") else dict(record)
        values = [json.dumps(list(data.get(f) or [])) if f in _JSON_FIELDS else data.get(f) for f in RECORD_FIELDS]
        with self._db:
            self._db.execute(
                f"INSERT INTO evaluations (fingerprint, generation, worker, created_at, "
                f"{', '.join(RECORD_FIELDS)}) VALUES (?, ?, ?, ?, {', '.join('?' * len(RECORD_FIELDS))})",
                [self.fingerprint, generation, worker, time.time(), *values],
            )

    def _row_to_dict(self, row, columns):
        data = dict(zip(columns, row))
        for field in _JSON_FIELDS:
            if data.get(field) is not None:
                data[field] = json.loads(data[field])
        data["fitness"] = tuple(data["fitness"])
        return data

    def lookup(self, genome: str):
        """The stored evaluation of ``genome`` under this store's fingerprint, or ``None``."""
        cursor = self._db.execute(
            "SELECT * FROM evaluations WHERE fingerprint = ? AND genome = ?", (self.fingerprint, str(genome))
        )
        row = cursor.fetchone()
        return None if row is None else self._row_to_dict(row, [c[0] for c in cursor.description])

    def records(self) -> list[dict]:
        """Every evaluation under this store's fingerprint, oldest first."""
        cursor = self._db.execute("SELECT * FROM evaluations WHERE fingerprint = ? ORDER BY id", (self.fingerprint,))
        columns = [c[0] for c in cursor.description]
        return [self._row_to_dict(row, columns) for row in cursor]

    def __len__(self):
        return self._db.execute("SELECT COUNT(*) FROM evaluations WHERE fingerprint = ?", (self.fingerprint,)).fetchone()[0]
