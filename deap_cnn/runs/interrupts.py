"""Ctrl-C and SIGTERM during a run: stop at once, keep the run folder consistent, say how to resume.

:func:`stop_on_signals` turns SIGINT and SIGTERM (a batch scheduler's
"time is up") into :class:`RunInterrupted`, raised in the main thread
wherever the run is: the candidate being trained is abandoned, never half
stored (each evaluation is one SQLite transaction, each checkpoint an atomic
rename), so a resume trains it again from its seed and ends where an
uninterrupted run would. A second signal while the first is being handled
is ignored, so that the clean-up itself is not torn.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

__all__ = ["RunInterrupted", "stop_on_signals", "exit_status"]

#: Signals that stop a run.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by ``signum``; its folder can be resumed."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


def exit_status(interrupt: BaseException) -> int:
    """The shell's convention: 128 plus the signal number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + getattr(interrupt, "signum", signal.SIGINT)


def _raise_interrupt(signum, frame):
    for number in STOP_SIGNALS:  # the first signal wins; the clean-up must not be interrupted again
        signal.signal(number, signal.SIG_IGN)
    raise RunInterrupted(signum)


@contextmanager
def stop_on_signals():
    """Within the block, SIGINT and SIGTERM raise :class:`RunInterrupted`; the old handlers come back after.

    Does nothing outside the main thread, where Python cannot install handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _raise_interrupt) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
