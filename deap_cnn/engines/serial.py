"""The serial engine: every evaluation in this process, one after another.

The reference the other engines must agree with, and what a plain
``python script.py`` uses.
"""

from __future__ import annotations

from concurrent.futures import Future

from . import Engine

__all__ = ["SerialEngine"]


class SerialEngine(Engine):
    """Runs each call at once, in this process. ``submit`` returns a finished future."""

    name = "serial"
    workers = 1

    def __init__(self, **ignored):
        self.closed = False

    def map(self, func, iterable, on_result=None) -> list:
        results = []
        for position, item in enumerate(iterable):
            results.append(func(item))
            if on_result is not None:
                on_result(position, results[-1])
        return results

    def submit(self, func, *args) -> Future:
        future = Future()
        try:
            future.set_result(func(*args))
        except Exception as error:  # noqa: BLE001 - handed to the caller by future.result(), as other engines do
            future.set_exception(error)
        return future

    def as_completed(self, futures, timeout=None):
        # Every future finished when it was submitted: yield them in order.
        yield from list(futures)

    def close(self):
        self.closed = True
