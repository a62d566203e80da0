"""The run folder: what a run writes, where, and when a folder counts as holding a run.

================== ============================================================
config.json        the run's settings (a resume reads them back)
status.json        running / finished / interrupted / failed, the message and the resume command
results.sqlite     one row per evaluation (:mod:`deap_cnn.runs.store`)
checkpoint.json    the search's state after the last finished step (JSON: :mod:`deap_cnn.runs.checkpoint`)
logbook.csv        one row per generation; fitness.png plots it
front.png          the Pareto front of a multi-objective run
best.json          the best architecture (and best.pt its retrained weights)
model-card.md      the winner described for whoever ships it (:mod:`deap_cnn.runs.card`)
.deap-cnn-run.json the marker: this folder is a deap_cnn run folder, and the run's id
.deap-cnn.lock     locked (``flock``) by the one process writing the run; it names that process
================== ============================================================

A folder holds a run once an evaluation was stored or a checkpoint written;
a start that failed before that leaves it free for the corrected command.
A run writes only into an empty folder or one its marker names as a run
folder, and deletes only files of a run (never another's files).
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shlex
import socket
import sqlite3
import sys
import time
import uuid
from pathlib import Path

from ..families.base import is_int

__all__ = ["RunFolder", "RunFolderError", "resume_command"]


class RunFolderError(RuntimeError):
    """The run folder does not fit the request (a run is there already, or none is, or it cannot be written)."""


CHECKPOINT = "checkpoint.json"
PICKLE_CHECKPOINT = "checkpoint.pkl"
MARKER = ".deap-cnn-run.json"
LOCK = ".deap-cnn.lock"
#: What a start that failed before its first evaluation may leave: cleared by the next start (marker permitting).
LEFTOVERS = ("results.sqlite", "status.json", "report.html", "logbook.csv", CHECKPOINT)


class FolderLock:
    """One writer per run folder: an exclusive ``flock`` on ``.deap-cnn.lock``, held while the run goes on.

    The operating system releases it when the process ends, however it
    ends, so a killed run leaves nothing to clean up. A second writer is
    refused at once, told which process holds the folder; readers
    (``deap-cnn report``, ``best``) take no lock.
    """

    def __init__(self, folder):
        self.folder = folder
        self.path = folder.file(LOCK)
        self.fd = None

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text())
            started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info["started"]))
            return f"PID {info['pid']} on {info['host']}, started {started}"
        except (OSError, ValueError, KeyError, TypeError, OverflowError):
            return "a process that has not said which yet"

    def acquire(self):
        import fcntl

        try:
            self.folder.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RunFolderError(
                f"cannot write the run folder {self.folder.path}: {error.strerror or error}; choose a writable --out"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise RunFolderError(f"cannot lock the run folder {self.folder.path}: {error}") from None
            raise RunFolderError(
                f"{self.folder.path} is being written by another deap-cnn process ({self.holder()}): one run folder "
                "has one writer; wait for it to finish (deap-cnn report shows its progress) or stop it first"
            ) from None
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def resume_command(out) -> str:
    """The command that continues the run in ``out``."""
    return f"deap-cnn resume {shlex.quote(str(out))}"


_JSON_TYPES = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
}


def check_config_values(values, source) -> dict:
    """``values`` (a config file's) checked as the command line checks its options; returns them.

    Each value must have its setting's type (``"seed": "abc"`` and
    ``"generations": null`` are refused), be in its range, and each key must
    name a setting. The :class:`~deap_cnn.runs.config.ConfigError` names ``source``.
    """
    import dataclasses

    from .config import ConfigError, SearchConfig

    if not isinstance(values, dict):
        raise ConfigError(f"{source}: holds {type(values).__name__}, not the settings object of a run")
    fields = {f.name: f for f in dataclasses.fields(SearchConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)} (deap-cnn search --help lists them)")
    for name, value in values.items():
        kind = str(fields[name].type).replace(" ", "")
        optional = kind.endswith("|None")
        base = kind.removesuffix("|None")
        if value is None:
            if not optional:
                raise ConfigError(f"{source}: {name} is null; it needs a value ({base})")
            continue
        if base == "tuple":
            items = value if isinstance(value, list) else None
            kind, check = ("int", is_int) if name in ("widths", "units") else ("str", lambda i: isinstance(i, str))
            if not items or not all(check(i) for i in items):
                raise ConfigError(f"{source}: {name} must be a list of {kind} values, got {value!r}")
            continue
        accepted = _JSON_TYPES.get(base)
        if accepted and (isinstance(value, bool) != (base == "bool") or not isinstance(value, accepted)):
            raise ConfigError(f"{source}: {name} must be {'an' if base == 'int' else 'a'} {base}, got {value!r}")
    try:
        SearchConfig.from_dict(dict(values)).check()
    except (ConfigError, TypeError) as error:
        raise ConfigError(f"{source}: {error}") from None
    return values


class RunFolder:
    """Paths and bookkeeping of one run folder."""

    def __init__(self, path):
        self.given = os.fspath(path)  # Path("") is ".": an empty --out must stay visible
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
        return self.file(CHECKPOINT)

    @property
    def pickle_checkpoint_file(self) -> Path:
        """Where deap_cnn before 0.2 kept its (pickle) checkpoint."""
        return self.file(PICKLE_CHECKPOINT)

    @property
    def marker_file(self) -> Path:
        return self.file(MARKER)

    def run_id(self):
        """The id the marker holds (``None``: no marker, or one that cannot be read)."""
        try:
            marker = json.loads(self.marker_file.read_text())
        except (OSError, ValueError):
            return None
        return marker.get("run_id") if isinstance(marker, dict) else None

    def is_run_folder(self) -> bool:
        """Whether a run made this folder: its marker, or (a run of deap_cnn before 0.2) a checkpoint or store."""
        if self.marker_file.exists() or self.pickle_checkpoint_file.exists() or self.checkpoint_file.exists():
            return True
        return self.store_file.exists() and self.evaluation_count() > 0

    def check_out(self):
        """Refuse an ``--out`` that is no place for a new run: empty, too long, a file, or a folder of other files."""
        if not self.given.strip():
            raise RunFolderError("--out is empty: name the run folder, e.g. --out runs/first")
        for part in self.path.parts:
            if len(os.fsencode(part)) > 255:
                raise RunFolderError(
                    f"--out {part[:40]}...: a folder name of {len(os.fsencode(part))} bytes is longer than the 255 "
                    "this file system allows; choose a shorter --out"
                )
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"--out {self.path} is a file, not a folder: choose another --out")
        if self.path.is_dir() and not self.is_run_folder():
            try:
                entries = sorted(entry.name for entry in self.path.iterdir())
            except OSError as error:
                raise RunFolderError(f"cannot read --out {self.path}: {error.strerror or error}") from None
            if entries:
                shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
                raise RunFolderError(
                    f"--out {self.path} is not empty ({shown}) and is not a deap_cnn run folder: a run writes only "
                    "into a new or empty folder; choose another --out"
                )

    def lock(self) -> FolderLock:
        """The writer's lock on this folder (see :class:`FolderLock`); creates the folder."""
        return FolderLock(self)

    def write_marker(self, run_id=None) -> str:
        """Write the marker (a new run id unless ``run_id``); return the id."""
        run_id = run_id or uuid.uuid4().hex
        self._write_text(self.marker_file, json.dumps({"run_id": run_id, "created": time.time(), "by": "deap_cnn"}))
        return run_id

    def remove_temporaries(self):
        """Delete the temporary files a writer killed mid-write left (only the writer's own names)."""
        from .checkpoint import remove_stale_temporaries

        remove_stale_temporaries(self.path)
        for name in (*LEFTOVERS, "config.json", "best.json", MARKER):
            temporary = self.file(name + ".tmp")
            if temporary.exists():
                temporary.unlink()

    def evaluation_count(self) -> int:
        """Rows in the results store (0 without one; a store that cannot be read counts as holding a run)."""
        if not self.store_file.exists() or self.store_file.stat().st_size == 0:
            return 0  # an empty file is an empty database (sqlite3.connect makes one)
        try:
            with sqlite3.connect(f"file:{self.store_file}?mode=ro", uri=True) as connection:
                tables = connection.execute("SELECT name FROM sqlite_master WHERE name = 'evaluations'").fetchall()
                return connection.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] if tables else 0
        except sqlite3.Error:
            return 1

    def holds_run(self) -> bool:
        """Whether a run really started here: an evaluation stored, or a checkpoint that counts some."""
        if self.pickle_checkpoint_file.exists() or self.evaluation_count() > 0:
            return True
        if not self.checkpoint_file.exists():
            return False
        try:  # a checkpoint written before the first evaluation (a steady-state run's first proposals) holds none
            return json.loads(self.checkpoint_file.read_text()).get("evaluations", 1) != 0
        except (OSError, ValueError, AttributeError):
            return True

    def refuse_a_run(self):
        """Raise :class:`RunFolderError` if the folder holds a run (a new run's check: resume that one instead)."""
        if self.holds_run():
            raise RunFolderError(
                f"{self.path} already holds a run: continue it with `{resume_command(self.path)}`, "
                "or choose another --out"
            )

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
        self.refuse_a_run()
        self.check_out()
        if self.marker_file.exists():  # a failed start's leftovers: the marker says this run wrote them
            for stale in LEFTOVERS:
                if self.file(stale).exists():
                    self.file(stale).unlink()
        self.write_config(config)
        return config

    def read_config(self) -> dict:
        """``config.json``, checked as the command line is (types, ranges, unknown keys); errors name the file."""
        try:
            values = json.loads(self.config_file.read_text())
        except (OSError, ValueError) as error:
            raise RunFolderError(
                f"{self.config_file} cannot be read ({error}); it is not a run folder's config.json"
            ) from None
        return check_config_values(values, self.config_file)

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
