"""Engines: where candidate evaluations run (this process, SCOOP workers, a Dask cluster).

An engine maps a picklable function over picklable items and gives the
results back in order; ``toolbox.register("map", engine.map)`` is all a DEAP
loop needs. Asynchronous strategies (which breed a child whenever any
evaluation finishes) use ``submit`` and ``as_completed`` instead. Every engine
has:

- ``map(func, iterable, on_result=None) -> list``: ``[func(x) for x in
  iterable]``, in order; ``on_result(position, result)`` is called as each
  result arrives (progress, and saving results before the last one is in);
- ``submit(func, *args) -> future``: start one call; ``future.result()`` gives
  its value (or raises its exception);
- ``as_completed(futures, timeout=None)``: yield the futures as they finish;
  when ``timeout`` seconds (default: the engine's lost-worker limit) pass
  without one finishing, raise :class:`LostWorkerError`;
- ``workers``: how many evaluations can run at once;
- ``expect(seconds, candidate_limit=None)``: the run's estimate of its
  slowest evaluation, to which the lost-worker limit is fitted;
- ``close()`` (safe to call twice), and ``with engine: ...``.

The lost-worker limit of the SCOOP and Dask engines (``map`` and
``as_completed`` alike) follows the run: four times its slowest evaluation,
seen or expected, and at least two minutes; ``DEAP_CNN_RESULT_TIMEOUT``
fixes it instead. See :mod:`deap_cnn.engines.timeout`.

Engines (:func:`make_engine`):

``"serial"``
    Everything in this process, one call after another.
``"scoop"``
    SCOOP's workers, for scripts started with ``python -m scoop``. A worker
    that dies no longer hangs the run: after the lost-worker limit without a
    result the engine raises :class:`LostWorkerError` (see
    :mod:`deap_cnn.engines.scoop_engine`).
``"dask"``
    A Dask ``distributed`` cluster, local or remote; lost workers' tasks are
    run again elsewhere (see :mod:`deap_cnn.engines.dask_engine`). Needs the
    ``dask`` extra: ``pip install deap_cnn[dask]``.

Importing this package imports neither torch nor dask.
"""

from __future__ import annotations

import os

__all__ = [
    "DEFAULT_RESULT_TIMEOUT",
    "RESULT_TIMEOUT_ENV",
    "Engine",
    "EngineError",
    "LostWorkerError",
    "current_scoop_or_serial",
    "make_engine",
    "result_timeout_from_env",
]

#: Seconds without any result after which a lost worker is assumed while nothing is known of the
#: evaluations' times (see :mod:`deap_cnn.engines.timeout`). It must be longer than the slowest single
#: evaluation, hence generous.
DEFAULT_RESULT_TIMEOUT = 1800.0

#: Environment variable that fixes the lost-worker limit (seconds), whatever the run's evaluations take.
RESULT_TIMEOUT_ENV = "DEAP_CNN_RESULT_TIMEOUT"


class EngineError(RuntimeError):
    """An engine cannot start or cannot run what it was given."""


class LostWorkerError(EngineError, TimeoutError):
    """No result arrived for too long: a worker was probably lost.

    ``completed`` maps the positions (in the order of the ``map`` call) of the
    evaluations that did finish to their results, so that the caller can save
    them before stopping; ``missing`` lists the positions that never came back.
    """

    def __init__(self, message, completed=None, missing=()):
        super().__init__(message)
        self.completed = dict(completed or {})
        self.missing = list(missing)


def result_timeout_from_env(default=DEFAULT_RESULT_TIMEOUT) -> float | None:
    """``DEAP_CNN_RESULT_TIMEOUT`` as seconds, else ``default`` (``None``: not set)."""
    text = os.environ.get(RESULT_TIMEOUT_ENV)
    if not text:
        return None if default is None else float(default)
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise EngineError(f"{RESULT_TIMEOUT_ENV} must be a positive number of seconds, got {text!r}")
    return seconds


def lost_worker_message(waited, missing, total, limit, why) -> str:
    """The text of a :class:`LostWorkerError`: what happened, that finished work is kept, and the limit."""
    return (
        f"no evaluation result arrived for {waited:.0f} s ({missing} of {total} evaluations still out): "
        f"a worker was probably lost (killed, out of memory, or its machine went away). "
        f"Completed evaluations are saved; resume the run to train only the missing ones. "
        f"The limit was {limit:.0f} s ({why}); if single evaluations can take longer, "
        f"set it with {RESULT_TIMEOUT_ENV}."
    )


class Engine:
    """What the engines share: context-manager use, an idempotent :meth:`close`, and the lost-worker timeout.

    ``timeout``: the :class:`~deap_cnn.engines.timeout.ResultTimeout` of an
    engine that can lose workers (``None`` for the serial engine).
    """

    name = "engine"
    workers = 1
    timeout = None

    @property
    def result_timeout(self) -> float | None:
        """Seconds without any result before :class:`LostWorkerError`, now (``None``: no limit)."""
        return None if self.timeout is None else self.timeout.seconds

    def expect(self, seconds, candidate_limit=None):
        """Tell the engine its slowest evaluation should take about ``seconds``; its lost-worker limit follows.

        ``candidate_limit`` (``--candidate-limit``) bounds what an estimate
        alone makes of the limit; see :mod:`deap_cnn.engines.timeout`.
        """
        if self.timeout is not None:
            self.timeout.expect(seconds, candidate_limit)

    def map(self, func, iterable, on_result=None) -> list:
        raise NotImplementedError

    def submit(self, func, *args):
        raise NotImplementedError

    def as_completed(self, futures, timeout=None):
        raise NotImplementedError

    def close(self):
        """Release the engine's resources; calling it again does nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<{type(self).__name__} workers={self.workers}>"


def make_engine(name: str = "serial", **options) -> Engine:
    """The engine called ``name`` (``"serial"``, ``"scoop"`` or ``"dask"``), built with ``options``.

    ``"scoop"`` needs the script to run under ``python -m scoop``; ``"dask"``
    needs ``distributed`` installed. ``"auto"`` is :func:`current_scoop_or_serial`.
    """
    key = str(name).strip().lower()
    if key == "serial":
        from .serial import SerialEngine

        return SerialEngine(**options)
    if key == "scoop":
        from .scoop_engine import ScoopEngine

        return ScoopEngine(**options)
    if key == "dask":
        from .dask_engine import DaskEngine

        return DaskEngine(**options)
    if key == "auto":
        return current_scoop_or_serial(**options)
    raise EngineError(f"unknown engine {name!r}: choose 'serial', 'scoop', 'dask' or 'auto'")


def current_scoop_or_serial(**options) -> Engine:
    """A SCOOP engine when this script runs under ``python -m scoop``, else a serial one.

    Lets one script run both ways, like :func:`deap_cnn.search.evaluation.scoop_map`.
    ``options`` go to the SCOOP engine (the serial engine takes none that matter).
    """
    from .scoop_engine import scoop_is_running

    if scoop_is_running():
        from .scoop_engine import ScoopEngine

        return ScoopEngine(**options)
    from .serial import SerialEngine

    return SerialEngine()
