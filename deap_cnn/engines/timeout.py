"""The lost-worker timeout: how long an engine waits for the next result before it takes a worker for lost.

A worker that dies sends nothing ever again, and SCOOP never notices (see
:mod:`deap_cnn.engines.scoop_engine`); an engine can only notice silence.
Silence must last longer than the slowest healthy evaluation, or a worker
still training is taken for lost; any longer, and a run stalls for nothing.
So the limit follows the run (:class:`ResultTimeout`):

- ``DEAP_CNN_RESULT_TIMEOUT`` in the environment, or an engine's
  ``result_timeout`` argument, fixes it to that many seconds, whatever
  happens;
- otherwise it is :data:`FACTOR` times the slowest evaluation the engine
  knows of, and never below :data:`FLOOR`. The engine knows of every
  evaluation it ran, each timed where it ran (:class:`Timed`), and of the
  run's estimate of its slowest one (:meth:`ResultTimeout.expect`: the runner
  times the largest candidate of the space before the first evaluation, see
  :func:`deap_cnn.runs.runner.check_candidate_time`). An estimate alone,
  being a guess, lifts the limit to at most :data:`FACTOR` times
  ``--candidate-limit`` (or :data:`~deap_cnn.engines.DEFAULT_RESULT_TIMEOUT`,
  if longer); evaluations seen to take longer lift it further, being facts;
- knowing nothing (no estimate, no result yet), it is
  :data:`~deap_cnn.engines.DEFAULT_RESULT_TIMEOUT`, 30 minutes.

A run of 20-second candidates thus notices a lost worker after two minutes
rather than half an hour, and a run of 20-minute candidates still lets each
one finish. Without an estimate (your own DEAP code), costs that vary a lot
within the first evaluations can make a healthy slow one look lost: call
``engine.expect(seconds)`` with the longest an evaluation may take, or fix
the limit.
"""

from __future__ import annotations

import numbers
import time

from . import DEFAULT_RESULT_TIMEOUT, RESULT_TIMEOUT_ENV, EngineError, result_timeout_from_env

__all__ = ["FACTOR", "FLOOR", "ResultTimeout", "Timed", "TimedFuture"]

#: The limit is this many times the slowest evaluation known: costs vary between candidates (hyperparameter
#: genes change the steps, a busy machine slows everything), and the estimate is only an estimate.
FACTOR = 4.0

#: Never less than this many seconds: a worker's first evaluation also loads the data and starts CUDA, and a
#: loaded machine stalls now and then; a lost worker costs a resume, a false alarm a healthy run.
FLOOR = 120.0


class ResultTimeout:
    """The seconds an engine waits for the next result (:attr:`seconds`), following the run.

    ``seconds``: a fixed limit (an engine's ``result_timeout`` argument);
    without it, ``DEAP_CNN_RESULT_TIMEOUT`` if set, else the limit the
    module docstring describes, with ``factor`` and ``floor`` (tests use
    small ones).
    """

    def __init__(self, seconds=None, factor=FACTOR, floor=FLOOR):
        if seconds is not None:
            if not (isinstance(seconds, numbers.Real) and seconds > 0):
                raise EngineError(f"result_timeout must be a positive number of seconds, got {seconds!r}")
            self.fixed, self.source = float(seconds), "result_timeout"
        else:
            self.fixed, self.source = result_timeout_from_env(None), RESULT_TIMEOUT_ENV
        self.factor = float(factor)
        self.floor = float(floor)
        self.estimate = None  # the run's estimate of its slowest evaluation
        self.ceiling = DEFAULT_RESULT_TIMEOUT  # the most an estimate alone makes of the limit
        self.slowest = 0.0  # the slowest evaluation seen, timed where it ran

    def expect(self, seconds, candidate_limit=None):
        """Take ``seconds`` as the run's slowest evaluation until one is seen to take longer.

        ``candidate_limit`` (``--candidate-limit``, seconds) bounds what the
        estimate makes of the limit: ``factor`` times it, or the default if longer.
        """
        self.estimate = float(seconds)
        self.ceiling = max(DEFAULT_RESULT_TIMEOUT, self.factor * float(candidate_limit or 0))

    def observe(self, seconds):
        """An evaluation took ``seconds``."""
        self.slowest = max(self.slowest, float(seconds))

    def unwrap(self, outcome):
        """The value of a :class:`Timed` call's ``(value, seconds)``; its seconds are observed."""
        value, seconds = outcome
        self.observe(seconds)
        return value

    @property
    def seconds(self) -> float:
        """The limit now."""
        if self.fixed is not None:
            return self.fixed
        if self.estimate is None and not self.slowest:
            return DEFAULT_RESULT_TIMEOUT
        guess = min(self.factor * (self.estimate or 0.0), self.ceiling)
        return max(self.floor, self.factor * self.slowest, guess)

    def describe(self) -> str:
        """Where :attr:`seconds` comes from, for the lost-worker message."""
        if self.fixed is not None:
            return f"set by {self.source}"
        if self.estimate is None and not self.slowest:
            return "the default while no evaluation has finished"
        known = [f"seen {self.slowest:.0f} s"] if self.slowest else []
        known += [f"expected {self.estimate:.0f} s"] if self.estimate is not None else []
        text = f"{self.factor:g} times the slowest evaluation ({', '.join(known)}), at least {self.floor:g} s"
        if self.estimate is not None and self.factor * self.estimate > self.ceiling:
            text += f", at most {self.ceiling:.0f} s on the estimate alone"
        return text

    def __repr__(self):
        return f"<ResultTimeout {self.seconds:.0f} s: {self.describe()}>"


class Timed:
    """``func`` that says how long it ran, where it ran: ``Timed(func)(*args)`` is ``(func(*args), seconds)``.

    Engines send this instead of ``func``, so that the time of a remote
    evaluation is its own, not its wait in a queue or on the wire.
    """

    def __init__(self, func):
        self.func = func

    def __call__(self, *args):
        started = time.perf_counter()
        value = self.func(*args)
        return value, time.perf_counter() - started

    def __repr__(self):  # Dask names its tasks after this
        return getattr(self.func, "__name__", "evaluation")


class TimedFuture:
    """What an engine's ``submit`` returns: its own ``future`` of a :class:`Timed` call, answering with the value alone.

    The first :meth:`result` (or :meth:`settle`, which ``as_completed`` calls
    as the future finishes) takes the outcome with ``take(future)`` (default
    ``future.result()``) and gives its seconds to ``timeout``. Other
    attributes are the engine's future's.
    """

    def __init__(self, future, timeout: ResultTimeout, take=None):
        self.future = future
        self._timeout = timeout
        self._take = take or (lambda future: future.result())
        self._outcome = None  # (value, exception) once taken

    def settle(self):
        """Take the outcome now (blocking until it is there); a raised exception is kept for :meth:`result`."""
        if self._outcome is None:
            try:
                self._outcome = (self._timeout.unwrap(self._take(self.future)), None)
            except Exception as error:  # noqa: BLE001 - the evaluation's own, handed on by result() as from any future
                self._outcome = (None, error)

    def result(self):
        """The evaluation's value, or its exception raised."""
        self.settle()
        value, error = self._outcome
        if error is not None:
            raise error
        return value

    def __getattr__(self, name):
        if name == "future":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.future, name)
