"""Atomic checkpoints of a run, after DEAP's checkpointing recipe.

A checkpoint is a pickle: load only checkpoints from sources you trust.
It is written to a temporary file beside the target, flushed to disk, then
renamed over the target, so a process killed at any moment leaves either the
previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import os
import pickle
import random
import sys
import tempfile

from deap import tools

__all__ = [
    "start_or_resume",
    "CheckpointError",
    "capture_random_state",
    "restore_random_state",
    "save_checkpoint",
    "load_checkpoint",
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


def save_checkpoint(path, **state):
    """Write ``state`` plus the random states to ``path`` atomically."""
    path = os.fspath(path)
    payload = dict(state, format=FORMAT, random_state=capture_random_state())
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
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


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`CheckpointError` naming the file and the problem when it is
    missing, damaged or foreign; it never falls back to a fresh start.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}: start a new run instead of resuming, or name the run's folder")
    try:
        with open(path, "rb") as handle:
            payload = pickle.load(handle)
    except Exception as error:  # any unpickling failure means the file is damaged
        raise CheckpointError(
            f"checkpoint {path} is damaged ({type(error).__name__}: {error}); "
            "restore it from a copy or start a new run in another folder"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not a deap_cnn checkpoint (expected format {FORMAT!r}, found {found!r})")
    return payload
