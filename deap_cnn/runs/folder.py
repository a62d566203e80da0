"""The run folder: what a run writes, where, and when a folder counts as holding a run.

============== ================================================================
config.json    the run's settings (a resume reads them back)
status.json    running / finished / interrupted / failed, the message and the resume command
results.sqlite one row per evaluation (:mod:`deap_cnn.runs.store`)
checkpoint.pkl the generational state after the last finished generation
logbook.csv    one row per generation; fitness.png plots it
front.png      the Pareto front of a multi-objective run
best.json      the best architecture (and best.pt its retrained weights)
============== ================================================================

A folder holds a run once an evaluation was stored or a checkpoint written;
a start that failed before that leaves it free for the corrected command.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import sqlite3
import sys
import time
from pathlib import Path

__all__ = ["RunFolder", "RunFolderError", "resume_command"]


class RunFolderError(RuntimeError):
    """The run folder does not fit the request (a run is there already, or none is, or it cannot be written)."""


def resume_command(out) -> str:
    """The command that continues the run in ``out``."""
    return f"deap-cnn resume {shlex.quote(str(out))}"


class RunFolder:
    """Paths and bookkeeping of one run folder."""

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self):
        return f"RunFolder({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def config_file(self) -> Path:
        return self.file("config.json")

    @property
    def store_file(self) -> Path:
        return self.file("results.sqlite")

    @property
    def checkpoint_file(self) -> Path:
        return self.file("checkpoint.pkl")

    def evaluation_count(self) -> int:
        """Rows in the results store (0 without one; a store that cannot be read counts as holding a run)."""
        if not self.store_file.exists():
            return 0
        try:
            with sqlite3.connect(f"file:{self.store_file}?mode=ro", uri=True) as connection:
                return connection.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
        except sqlite3.Error:
            return 1

    def holds_run(self) -> bool:
        """Whether a run really started here: an evaluation stored or a checkpoint written."""
        return self.checkpoint_file.exists() or self.evaluation_count() > 0

    def claim(self, config: dict, resume: bool = False) -> dict:
        """Make the folder this run's; return the settings to run with.

        A new run refuses a folder that holds a run; leftovers of a start
        that failed before its first evaluation are cleared. A resume reads
        the saved settings (``config.json``) and refuses a folder without.
        """
        if resume:
            if not self.config_file.exists():
                raise RunFolderError(
                    f"nothing to resume in {self.path}: it holds no config.json; start a run with deap-cnn search "
                    f"--out {shlex.quote(str(self.path))}"
                )
            return self.read_config()
        if self.holds_run():
            raise RunFolderError(
                f"{self.path} already holds a run: continue it with `{resume_command(self.path)}`, "
                "or choose another --out"
            )
        for stale in ("results.sqlite", "status.json", "report.html"):  # a failed start's leftovers
            if self.file(stale).exists():
                self.file(stale).unlink()
        self.write_config(config)
        return config

    def read_config(self) -> dict:
        try:
            return json.loads(self.config_file.read_text())
        except (OSError, ValueError) as error:
            raise RunFolderError(
                f"{self.config_file} cannot be read ({error}); it is not a run folder's config.json"
            ) from None

    def write_config(self, config: dict):
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._write_text(self.config_file, json.dumps(config, indent=2))
        except OSError as error:
            raise RunFolderError(
                f"cannot write the run folder {self.path}: {error.strerror or error}; choose a writable --out"
            ) from None

    def _write_text(self, path: Path, text: str):
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text)
        os.replace(temporary, path)

    def status(self) -> dict:
        try:
            return json.loads(self.file("status.json").read_text())
        except (OSError, ValueError):
            return {}

    def set_status(self, state: str, message: str = "", **details):
        """Write ``status.json``: the state, a message, the resume command and when."""
        status = {
            "state": state,
            "message": message,
            "resume": resume_command(self.path),
            "updated": time.time(),
            "pid": os.getpid(),
            **details,
        }
        try:
            self._write_text(self.file("status.json"), json.dumps(status, indent=2))
        except OSError as error:  # the status is a courtesy; the store and checkpoint are what count
            print(f"warning: cannot write {self.file('status.json')}: {error}", file=sys.stderr)

    def write_logbook(self, logbook):
        """``logbook.csv``: one row per generation, the logbook's columns."""
        columns = [c for c in logbook.header if any(c in row for row in logbook)] if len(logbook) else []
        with open(self.file("logbook.csv"), "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(logbook)

    def write_json(self, name: str, value: dict):
        self._write_text(self.file(name), json.dumps(value, indent=2))

    def read_json(self, name: str) -> dict:
        try:
            return json.loads(self.file(name).read_text())
        except FileNotFoundError:
            raise RunFolderError(
                f"{self.path} holds no {name}: has the run finished? (deap-cnn report shows it)"
            ) from None
        except (OSError, ValueError) as error:
            raise RunFolderError(f"{self.file(name)} cannot be read: {error}") from None
