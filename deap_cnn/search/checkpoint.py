"""Atomic checkpoints of a run, after DEAP's checkpointing recipe, in a format that cannot run code.

A checkpoint is JSON (:mod:`deap_cnn.search.codec`): genome texts, fitness
values, the logbook, the hall of fame, the proposer's state and the random
states, nothing that names a function to call. Loading a checkpoint from
someone else is therefore safe; a pickle checkpoint of an earlier version
is refused unless the caller says it trusts it (:func:`convert_pickle_checkpoint`).

It is written to a temporary file beside the target, flushed to disk, then
renamed over the target, so a process killed at any moment leaves either the
previous checkpoint or the new one, never a torn file. A run folder's
checkpoint also records the run's identity and how many evaluations its
results store held (:func:`stamp_checkpoints`), so a resume can tell a store
that lost rows or belongs to another run.
"""

from __future__ import annotations

import glob
import json
import os
import random
import sqlite3
import sys
import tempfile
import time

from deap import tools

__all__ = [
    "start_or_resume",
    "CheckpointError",
    "capture_random_state",
    "restore_random_state",
    "save_checkpoint",
    "load_checkpoint",
    "convert_pickle_checkpoint",
    "stamp_checkpoints",
    "is_pickle",
]


def start_or_resume(toolbox, n, checkpoint, resume=False, seed=None, halloffame_size=5, halloffame=None):
    """What :func:`~deap_cnn.search.ga.ea_cnn_ga` starts from: ``(population, halloffame, logbook, start_gen)``.

    With ``resume`` and a checkpoint at ``checkpoint``, the checkpoint's
    state, its random states restored, so the run goes on as if never
    stopped. Otherwise a new population of ``n`` from ``toolbox.population``,
    drawn after seeding :mod:`random` with ``seed`` (a run killed before its
    first checkpoint thus starts again the same way, and its stored
    evaluations are cache hits). ``halloffame`` is the empty hall of fame
    a new run starts with (default ``tools.HallOfFame(halloffame_size)``;
    a :class:`deap.tools.ParetoFront` for NSGA-II).
    """
    if resume and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint)
        restore_random_state(state["random_state"])
        return state["population"], state["halloffame"], state["logbook"], state["generation"] + 1
    if seed is not None:
        random.seed(seed)
    halloffame = tools.HallOfFame(halloffame_size) if halloffame is None else halloffame
    return toolbox.population(n=n), halloffame, None, 0


FORMAT = "deap_cnn.checkpoint/1"
#: The first bytes of a pickle of protocol 2 or later (every pickle checkpoint deap_cnn wrote).
PICKLE_MAGIC = b"\x80"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged or not a deap_cnn checkpoint."""


def capture_random_state() -> dict:
    """The states of :mod:`random`, numpy's global generator and torch's CPU generator (when imported)."""
    state = {"random": random.getstate()}
    if "numpy" in sys.modules:
        state["numpy"] = sys.modules["numpy"].random.get_state()
    if "torch" in sys.modules:
        state["torch"] = sys.modules["torch"].get_rng_state()
    return state


def restore_random_state(state: dict):
    """Restore what :func:`capture_random_state` captured."""
    random.setstate(state["random"])
    if "numpy" in state:
        import numpy

        numpy.random.set_state(state["numpy"])
    if "torch" in state:
        import torch

        torch.set_rng_state(state["torch"])


class _Stamp:
    """What a run folder's checkpoints record beside the state: the run's id and its store's row count."""

    def __init__(self, run_id, store_file):
        self.run_id, self.store_file, self.marked = run_id, os.fspath(store_file), False

    def rows(self) -> int:
        with sqlite3.connect(f"file:{self.store_file}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]

    def mark_store(self):
        """Once per process: the store notes that a checkpoint was written (so a deleted one is noticed)."""
        if self.marked:
            return
        connection = sqlite3.connect(self.store_file)
        try:
            with connection:
                connection.execute(
                    "INSERT OR REPLACE INTO settings (key, value) VALUES ('checkpointed', ?)",
                    (json.dumps(time.time()),),
                )
        finally:
            connection.close()
        self.marked = True


_STAMPS = {}  # absolute checkpoint path -> _Stamp


class stamp_checkpoints:  # a context manager, named like open()
    """``with stamp_checkpoints(path, run_id, store_file):`` checkpoints written to ``path`` carry ``run_id`` and
    the number of rows ``store_file`` holds (``evaluations``), and the store learns that a checkpoint exists."""

    def __init__(self, path, run_id, store_file):
        self.key = os.path.abspath(os.fspath(path))
        self.stamp = _Stamp(run_id, store_file)

    def __enter__(self):
        _STAMPS[self.key] = self.stamp
        return self

    def __exit__(self, *exc):
        _STAMPS.pop(self.key, None)


def save_checkpoint(path, **state):
    """Write ``state`` plus the random states to ``path`` atomically, as JSON.

    Raises :class:`CheckpointError` when the state holds a value the format
    does not (see :mod:`deap_cnn.search.codec`), or the file cannot be written.
    """
    from .codec import CodecError, encode

    path = os.fspath(path)
    stamp = _STAMPS.get(os.path.abspath(path))
    payload = dict(state, format=FORMAT, random_state=capture_random_state())
    if stamp is not None:
        payload.update(run_id=stamp.run_id, evaluations=stamp.rows())
    try:
        text = json.dumps(encode(payload), separators=(",", ":"))
    except CodecError as error:
        raise CheckpointError(f"cannot write checkpoint {path}: {error}") from None
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=directory)
    except OSError as error:
        raise CheckpointError(
            f"cannot write checkpoint {path} ({error.strerror or error}): make the folder writable, then resume"
        ) from None
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise CheckpointError(
            f"cannot write checkpoint {path} ({error.strerror or error}): make it writable "
            "(chattr -i, chmod u+w), then resume"
        ) from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    if stamp is not None:
        stamp.mark_store()


def remove_stale_temporaries(directory):
    """Delete the ``.checkpoint-*.tmp`` files a killed writer left in ``directory`` (the writer's own names)."""
    for stale in glob.glob(os.path.join(glob.escape(os.fspath(directory)), ".checkpoint-*.tmp")):
        try:
            os.unlink(stale)
        except OSError:
            pass


def is_pickle(path) -> bool:
    """Whether the file at ``path`` starts as a pickle does."""
    try:
        with open(path, "rb") as handle:
            return handle.read(1) == PICKLE_MAGIC
    except OSError:
        return False


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`CheckpointError` naming the file and the problem when it is
    missing, damaged, foreign or a pickle (an old checkpoint, or a crafted
    one: loading a pickle can run any code, so it is never loaded here); it
    never falls back to a fresh start.
    """
    from .codec import CodecError, decode

    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}: start a new run instead of resuming, or name the run's folder")
    if is_pickle(path):
        raise CheckpointError(
            f"{path} is a pickle checkpoint (deap_cnn before 0.2, or a crafted file): loading a pickle can run any "
            "code, so it is not loaded; if you made this run yourself, resume it once with "
            "--trust-pickle-checkpoint, which converts it to JSON"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {path} is damaged ({type(error).__name__}: {error}); "
            "restore it from a copy or start a new run in another folder"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise CheckpointError(f"{path} is not a deap_cnn checkpoint (expected format {FORMAT!r}, found {found!r})")
    try:
        payload = decode(document)
    except (CodecError, RecursionError) as error:
        raise CheckpointError(
            f"checkpoint {path} is damaged ({error}); restore it from a copy or start a new run in another folder"
        ) from None
    return payload


def convert_pickle_checkpoint(source, target=None):
    """Load a pickle checkpoint you trust (an earlier version's) and write it as JSON to ``target`` (default: in place).

    Only for files you made yourself: unpickling runs whatever the file says.
    """
    import pickle

    source = os.fspath(source)
    target = source if target is None else os.fspath(target)
    try:
        with open(source, "rb") as handle:
            payload = pickle.load(handle)  # the caller vouches for this file
    except Exception as error:  # noqa: BLE001 - any unpickling failure means the file is damaged
        raise CheckpointError(f"checkpoint {source} is damaged ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{source} is not a deap_cnn checkpoint")
    saved = capture_random_state()
    try:
        restore_random_state(payload.pop("random_state"))
        payload.pop("format")
        save_checkpoint(target, **payload)  # captures the restored random states again
    finally:
        restore_random_state(saved)
