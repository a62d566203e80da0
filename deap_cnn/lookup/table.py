"""A benchmark table: one row per architecture, its canonical text and its score(s), read from CSV and checked.

A tabular NAS benchmark (NAS-Bench-201 / NATS-Bench and others) has trained
every architecture of a space already; a search on it asks the table
instead of training. The table is a CSV file with a header row: one column
holds the architectures (named ``architecture``, ``arch`` or ``genome``,
else the first column), written as the family's canonical text (for the
``nats`` family, the benchmark's own architecture string), and another the
score to use as fitness (``column``; with no name, the only other column
whose every value is a number). Everything is checked when the table is
read, so a malformed table stops a run before anything is written.
"""

from __future__ import annotations

import csv
import hashlib
import os

from ..families.base import finite_or_none

__all__ = ["TableError", "LookupTable", "load_table", "KEY_COLUMNS"]

#: Names the architecture column may have (the first column otherwise).
KEY_COLUMNS = ("architecture", "arch", "genome")


class TableError(ValueError):
    """A benchmark table cannot serve a search; the message names the file, the problem and the fix."""


class LookupTable:
    """Scores of architectures by canonical text: ``table[genome_text] -> float``.

    Build it with :func:`load_table`. ``column`` names the score used,
    ``path`` the file and ``digest`` a hash of its bytes (what a results
    store's fingerprint keys on, so an edited table never serves stale
    fitness).
    """

    def __init__(self, scores: dict, path: str, column: str, digest: str):
        self.scores = scores
        self.path = path
        self.column = column
        self.digest = digest

    def __len__(self):
        return len(self.scores)

    def __contains__(self, key):
        return str(key) in self.scores

    def __getitem__(self, key) -> float:
        return self.scores[str(key)]

    def best(self):
        """``(architecture, score)`` of the table's highest score."""
        key = max(self.scores, key=self.scores.get)
        return key, self.scores[key]

    def missing(self, genomes) -> list:
        """The canonical texts of ``genomes`` that the table does not hold, in order."""
        return [text for text in map(str, genomes) if text not in self.scores]

    def check_covers(self, space, shown: int = 1):
        """Raise :class:`TableError` unless every genome of an enumerable ``space`` is in the table.

        Spaces that cannot list their genomes (no ``all_genomes``) are not
        checked: a genome missing there is named when the search reaches it.
        """
        genomes = getattr(space, "all_genomes", None)
        if genomes is None:
            return
        missing = self.missing(genomes())
        if missing:
            raise TableError(
                f"table {self.path} lacks {len(missing):,} of the space's {space.size:,} architectures "
                f"(e.g. {', '.join(missing[:shown])}): a search may reach any of them; export the whole benchmark "
                "(deap-cnn nats-table) or use a table that covers the space"
            )


_TABLES = {}  # (path, digest, column, space) -> LookupTable, per process: workers read a table once


def _digest(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:16]


def load_table(path, space, column: str | None = None) -> LookupTable:
    """Read and check the table at ``path`` for genomes of ``space``; cached per process.

    Every architecture is parsed by ``space.parse`` and stored under its
    canonical text, so a table written with another spelling of the same
    genome still matches; an architecture the space cannot parse, one
    listed twice, a score that is not a finite number, a missing or
    ambiguous ``column``: each raises :class:`TableError` naming the line
    or the columns there are.
    """
    path = os.fspath(path)
    try:
        digest = _digest(path)
    except OSError as error:
        raise TableError(f"cannot read table {path}: {error.strerror or error}; give the path of a CSV file") from None
    key = (os.path.abspath(path), digest, column, space)
    if key not in _TABLES:
        _TABLES[key] = _read(path, space, column, digest)
    return _TABLES[key]


def _read(path, space, column, digest) -> LookupTable:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: spreadsheets' byte-order mark
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TableError(f"cannot read table {path} as CSV ({error}); write it as CSV with a header row") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise TableError(f"table {path} holds no rows under a header: write one architecture per row")
    header = [name.strip() for name in rows[0]]
    key_index = next((header.index(name) for name in KEY_COLUMNS if name in header), 0)
    value_index = _value_column(path, header, rows[1:], key_index, column)
    scores = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise TableError(f"table {path}, line {line}: {len(row)} fields under a header of {len(header)}")
        value = finite_or_none(row[value_index])
        if value is None:
            raise TableError(
                f"table {path}, line {line}: {header[value_index]} is {row[value_index]!r}, not a finite number"
            )
        try:
            text = str(space.parse(row[key_index].strip()))
        except ValueError as error:
            raise TableError(f"table {path}, line {line}: {error}") from None
        if text in scores:
            raise TableError(f"table {path}, line {line}: architecture {text} is listed twice; keep one row each")
        scores[text] = value
    return LookupTable(scores, path, header[value_index], digest)


def _value_column(path, header, rows, key_index, column) -> int:
    """The index of the score column: ``column`` by name, else the only numeric column but the key.

    A column counts as numeric when most of its values are numbers, so one
    bad value in the score column is reported by its line (by the caller)
    rather than making another column the score without a word.
    """
    if column is not None:
        if column not in header:
            raise TableError(
                f"table {path} has no column {column!r}; its columns are {', '.join(header)} (--lookup-column)"
            )
        return header.index(column)
    numeric = [
        index
        for index in range(len(header))
        if index != key_index
        and sum(index < len(row) and finite_or_none(row[index]) is not None for row in rows) > len(rows) / 2
    ]
    if len(numeric) != 1:
        found = ", ".join(header[i] for i in numeric) if numeric else "none"
        raise TableError(
            f"table {path}: choose the score column with --lookup-column (numeric columns: {found}; "
            f"all columns: {', '.join(header)})"
        )
    return numeric[0]
