"""Progress of a generation's evaluations: a bar on a terminal, one line per candidate in a log.

On a terminal (stderr is a TTY) a ``tqdm`` bar per generation shows the
candidates done, running and left, and an ETA weighted by the candidates'
estimated costs (``toolbox.cost``: a large candidate counts for more than a
small one). Anywhere else (a file, a batch job's log) each finished
candidate gets one line: genome, fitness, status and seconds, so a log
tells how a run goes without control characters.
"""

from __future__ import annotations

import sys
import time

__all__ = ["GenerationProgress"]


class GenerationProgress:
    """Report one generation's candidates as they finish.

    ``costs`` are the candidates' estimated costs (any positive unit), in
    the order they were sent; ``workers`` how many train at once. Use
    :meth:`done` for each finished candidate and :meth:`close` at the end.
    """

    def __init__(self, generation, costs, workers=1, stream=None, bar=None):
        self.generation = generation
        self.costs = [max(float(c), 1.0) for c in costs]
        self.total = len(self.costs)
        self.workers = max(1, int(workers))
        self.stream = stream if stream is not None else sys.stderr
        self.finished = 0
        self.started = time.perf_counter()
        use_bar = self.stream.isatty() if bar is None else bar
        self._bar = self._make_bar() if use_bar and self.total else None

    def _label(self) -> str:
        return "initial population" if self.generation == 0 else f"generation {self.generation}"

    def _make_bar(self):
        from tqdm import tqdm

        return tqdm(
            total=sum(self.costs),
            desc=f"{self._label()}",
            file=self.stream,
            bar_format="{desc}: {percentage:3.0f}%|{bar:24}| {postfix} [{elapsed}<{remaining}]",
            leave=True,
            dynamic_ncols=True,
        )

    def _postfix(self) -> str:
        left = self.total - self.finished
        running = min(self.workers, left)
        return f"{self.finished}/{self.total} done, {running} running, {left - running} waiting"

    def done(self, position, record, worker=None):
        """Candidate ``position`` (in sending order) finished with ``record`` (a dict)."""
        self.finished += 1
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.update(self.costs[position] if position < len(self.costs) else 1.0)
            return
        fitness = ", ".join(f"{value:.4g}" for value in record.get("fitness", ()))
        status = record.get("status", "ok")
        seconds = record.get("seconds")
        timing = f" in {seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
        where = f" on {worker}" if worker else ""
        print(
            f"{self._label()} [{self.finished}/{self.total}] {record.get('genome')}: fitness {fitness}"
            f"{'' if status == 'ok' else f' ({status})'}{timing}{where}",
            file=self.stream,
            flush=True,
        )

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
