"""The SCOOP engine: ``python -m scoop -n N script.py``, without the silent hang.

How it evaluates
----------------
``map`` keeps each of the other SCOOP workers busy with one submitted future
(``scoop.futures.submit``) and evaluates the rest here, in the origin, so that
``-n 2`` trains two candidates at a time. Results come back in the order of
the items. Whenever the origin has nothing of its own to run it polls for
results, and if the lost-worker limit passes since the last result arrived it
raises :class:`~deap_cnn.engines.LostWorkerError` carrying the results that
did arrive; ``as_completed`` keeps the same limit. The limit follows the run
(:class:`~deap_cnn.engines.timeout.ResultTimeout`): four times the slowest
evaluation seen (each timed on the worker that ran it) or expected (the run's
estimate of its largest candidate), at least two minutes, 30 minutes while
nothing is known; ``DEAP_CNN_RESULT_TIMEOUT`` or the ``result_timeout``
argument fixes it instead. A worker still training when it passes is taken
for lost.

Why SCOOP hangs when a worker dies
----------------------------------
SCOOP never notices that a process is gone: its futures wait in its own
scheduler loop, which blocks until a message arrives, and none will. SCOOP
has no timeout for this (``futures.as_completed`` ignores its ``timeout``).
So the engine never blocks inside SCOOP: it polls with
``scoop.futures.wait(..., timeout=0)``, which also sends the submitted futures
off to the other workers, and keeps the clock itself. After a
``LostWorkerError`` the run must still end with a non-zero status, which SCOOP
does not give (an exception or ``SystemExit`` in the script ends the launcher
with 0; measured, it does not hang): :func:`end_scoop_run` sees to it. The
dead worker also takes SCOOP's broker thread down ("Host unreachable" when a
task is routed to it); the origin then trains what is left itself.

Why SCOOP sometimes trains a candidate twice
--------------------------------------------
("Lost track of future ... Resending it..." then "Received an unexpected
future"). Each worker reports to the broker every
``scoop.TIME_BETWEEN_STATUS_REPORTS`` (25 s) which futures it holds, and the
broker replaces its record of the worker's tasks with that report. The report
lists the futures waiting in the worker's queues but not the one it is
running, so 25 s or less after a long task starts the broker no longer knows
where it is. When the origin is idle inside SCOOP's scheduler it asks the
broker, every 2 s, about each future it still waits for; the broker answers
"unknown", and the origin sends the future again: a second worker (often the
origin itself) trains the same candidate, and the slower result is dropped
with "Received an unexpected future". So any evaluation longer than about
25 s can run twice. No setting avoids it: the report period is read by a
thread started before the script runs, and the broker (in the launcher) keeps
its own pruning period. Submitting futures does avoid it, because the
status requests are only sent from SCOOP's idle scheduler loop, which this
engine never enters: it polls without blocking and runs its own share of the
evaluations itself. ``duplicates`` and ``resent`` count the messages above,
should they appear anyway (e.g. in other code that uses ``futures.map``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections import deque

from . import Engine, EngineError, LostWorkerError, lost_worker_message
from .timeout import ResultTimeout, Timed, TimedFuture

__all__ = ["ScoopEngine", "end_scoop_run", "scoop_is_running"]

#: Seconds between two looks for results while the origin has nothing to run.
POLL_SECONDS = 0.05


def scoop_is_running() -> bool:
    """Whether this process is part of a SCOOP run (started with ``python -m scoop``)."""
    scoop = sys.modules.get("scoop")
    return bool(getattr(scoop, "IS_RUNNING", False))


class _RepeatCounter(logging.Filter):
    """Counts SCOOP's messages about futures it resent or received twice (and lets them through)."""

    def __init__(self):
        super().__init__()
        self.resent = 0
        self.duplicates = 0

    def filter(self, record):
        text = str(record.msg)
        if "Lost track of future" in text:
            self.resent += 1
        elif "Received an unexpected future" in text:
            self.duplicates += 1
        return True


class ScoopEngine(Engine):
    """Evaluations over the workers of the running SCOOP pool.

    ``result_timeout``: seconds without any result before
    :class:`~deap_cnn.engines.LostWorkerError`, fixed (default: from
    ``DEAP_CNN_RESULT_TIMEOUT``, else following the run: see the module
    docstring; the policy is the ``timeout`` attribute, ``expect`` feeds it
    the run's estimate). ``evaluate_locally``: the origin evaluates its share
    of ``map`` too (on by default; off leaves the origin to coordinate only,
    as ``submit`` always does).
    """

    name = "scoop"

    def __init__(self, result_timeout=None, evaluate_locally=True):
        if not scoop_is_running():
            raise EngineError(
                "the SCOOP engine needs the script to run under SCOOP: start it with "
                "`python -m scoop -n WORKERS script.py`, or use the serial or dask engine"
            )
        import scoop
        from scoop import futures

        self._futures = futures
        self.workers = max(1, int(getattr(scoop, "SIZE", 1) or 1))
        self.timeout = ResultTimeout(result_timeout)
        self.evaluate_locally = evaluate_locally
        self._repeats = _RepeatCounter()
        self._logger = scoop.logger
        self._logger.addFilter(self._repeats)
        self.closed = False

    @property
    def duplicates(self) -> int:
        """Results SCOOP received twice for one future (the second was dropped)."""
        return self._repeats.duplicates

    @property
    def resent(self) -> int:
        """Futures SCOOP sent again because it had lost track of them."""
        return self._repeats.resent

    def _finished(self, pending):
        """The futures of ``pending`` that have finished; sends unsent ones to the workers on the way."""
        if not pending:
            return []
        done = self._futures.wait(list(pending), timeout=0).done
        return [future for future in pending if future in done]

    def map(self, func, iterable, on_result=None) -> list:
        items = list(iterable)
        report = on_result or (lambda position, result: None)
        timed = Timed(func)
        results = {}
        remote = {}  # SCOOP future -> position
        todo = deque(range(len(items)))
        others = self.workers - 1 if self.evaluate_locally else self.workers

        def keep(position, outcome):
            results[position] = self.timeout.unwrap(outcome)
            report(position, results[position])

        last_result = time.monotonic()
        while len(results) < len(items):
            # Two tasks per remote worker: its next one already waits in its queue while the
            # origin is busy training and cannot hand out work.
            while todo and len(remote) < 2 * others:
                position = todo.popleft()
                remote[self._futures.submit(timed, items[position])] = position
            finished = self._finished(remote)
            for future in finished:
                keep(remote.pop(future), _value(future))
            if finished:
                last_result = time.monotonic()
            if todo and (self.evaluate_locally or others == 0):
                # The origin cannot hand out work while it trains, so it takes the last item:
                # the cheapest, when items come most expensive first (evaluate_population's
                # order), so a remote worker that finishes early waits for little.
                position = todo.pop()
                keep(position, timed(items[position]))
                last_result = time.monotonic()
            elif not finished:
                message = self._overdue(last_result, None, len(remote) + len(todo), len(items))
                if message:
                    missing = sorted(list(remote.values()) + list(todo))
                    raise LostWorkerError(message, completed=results, missing=missing)
                time.sleep(POLL_SECONDS)
        return [results[position] for position in range(len(items))]

    def submit(self, func, *args):
        """Start ``func(*args)`` on another worker; wait for it with :meth:`as_completed`.

        Returns a :class:`~deap_cnn.engines.timeout.TimedFuture`, whose
        ``result()`` blocks without the lost-worker bound if called before
        the future finished.
        """
        future = self._futures.submit(Timed(func), *args)
        self._finished([future])  # sends it off now rather than when SCOOP's buffer fills
        return TimedFuture(future, self.timeout, _value)

    def as_completed(self, futures, timeout=None):
        pending = {future.future: future for future in futures}  # SCOOP's future -> ours
        total = len(pending)
        last_result = time.monotonic()
        while pending:
            finished = self._finished(pending)
            for inner in finished:
                future = pending.pop(inner)
                future.settle()  # its time counts before the next wait
                yield future
            if finished:
                last_result = time.monotonic()
                continue
            message = self._overdue(last_result, timeout, len(pending), total)
            if message:
                raise LostWorkerError(message, missing=list(pending.values()))
            time.sleep(POLL_SECONDS)

    def _overdue(self, since, timeout, missing, total):
        """The lost-worker message when no result came since ``since`` for longer than the limit, else ``None``.

        The limit is ``timeout`` if given, else the engine's, asked anew: each result may have moved it.
        """
        waited = time.monotonic() - since
        limit = self.timeout.seconds if timeout is None else float(timeout)
        if waited <= limit:
            return None
        why = self.timeout.describe() if timeout is None else "as_completed's timeout"
        return lost_worker_message(waited, missing, total, limit, why)

    def close(self):
        if not self.closed:
            self._logger.removeFilter(self._repeats)
            self.closed = True


def _value(future):
    """A SCOOP future's result (raising the worker's exception, if any), then SCOOP's record of it dropped.

    Blocks, without the lost-worker bound, if the future has not finished.
    """
    try:
        return future.result()
    finally:
        future._delete()  # SCOOP keeps every future in a dict until told it was collected


def end_scoop_run(message: str | None, status: int = 1):
    """Print ``message`` and end the run with a non-zero exit status, also under SCOOP.

    Outside SCOOP this is ``sys.exit(status)``. Under SCOOP that would not do:
    SCOOP turns an exception or ``SystemExit`` in the script into exit status
    0, and its launcher only sees the status of the intermediate process
    (``scoop.launch``) that started the workers of this host, which always
    ends with 0. So the origin ends that process's other workers and that
    process itself with SIGTERM (the launcher then exits non-zero and cleans
    up the broker) and leaves with ``os._exit(status)``.
    """
    if message:
        print(message, file=sys.stderr, flush=True)
    if not scoop_is_running():
        sys.exit(status)
    sys.stdout.flush()
    logging.shutdown()
    parent = os.getppid()
    if "scoop.launch" in _command_line(parent):
        for sibling in _children_of(parent):
            if sibling != os.getpid():
                _terminate(sibling)
        _terminate(parent)
    os._exit(status)


def _command_line(pid) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children_of(pid) -> list:
    """Process ids whose parent is ``pid`` (Linux ``/proc``; empty elsewhere)."""
    children = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


def _terminate(pid):
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
