"""The Dask engine: evaluations on a ``distributed`` cluster that outlives lost workers.

When a worker process dies, Dask runs its tasks again on another worker, so
the search goes on and every candidate is stored once. Without a scheduler
address the engine starts a ``LocalCluster`` of worker processes: one per
CUDA GPU (each offering the resource ``GPU=1``) when CUDA is available,
otherwise ``n_workers`` sharing the CPU cores (each worker's torch threads
are the cores divided among them, through ``DEAP_CNN_LOCAL_WORKERS``). With
``scheduler="tcp://host:8786"`` it joins a running cluster instead (one
that does not answer within :data:`CONNECT_TIMEOUT` is an
:class:`~deap_cnn.engines.EngineError` naming the address). Tasks are
submitted with ``pure=False``: Dask never merges or caches two evaluations.
It is quiet: distributed logs only errors, and the dashboard is off unless
``dashboard_address`` is given.

In your own DEAP code::

    from deap_cnn.engines.dask_engine import DaskEngine

    with DaskEngine(n_workers=2) as engine:       # or DaskEngine("tcp://host:8786")
        toolbox.register("map", engine.map)
        population, log = algorithms.eaSimple(population, toolbox, 0.5, 0.2, ngen=10)

Functions and individuals travel by pickle, so ``creator`` types must be
created at module level, as for SCOOP. Install with ``pip install deap_cnn[dask]``.
"""

from __future__ import annotations

import logging
import os
import random
import sys

from . import Engine, EngineError, LostWorkerError, lost_worker_message
from .timeout import ResultTimeout, Timed, TimedFuture

__all__ = ["DaskEngine"]

_QUIET = logging.ERROR

#: Seconds to wait for a running scheduler to answer. Dask's default is 30 s, retrying all along, for
#: a cluster that is still starting; the scheduler a search joins runs already, and one that is up
#: answers in well under a second even across machines, so 10 s still allows for a busy scheduler or
#: a slow network while a stopped scheduler or a mistyped address is reported three times sooner.
CONNECT_TIMEOUT = 10.0


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise EngineError(
            "the dask engine needs Dask's distributed package: pip install distributed (or pip install deap_cnn[dask])"
        ) from None
    return distributed


def _cuda_devices() -> int:
    """CUDA devices here; 0 without torch or CUDA (torch is only imported when asked)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _training_worker_config():
    """Dask config under which new local workers train as fast as one process does.

    - Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker it
      spawns, to hand memory back to the system sooner. Setting it also turns
      off glibc's adaptive mmap threshold, so each tensor above 128 KiB is
      mapped and unmapped afresh and its pages faulted in on every step.
      Measured here: one CPU training took 1.54x as long with it (29.1 s
      against 18.9 s for the same eight candidates). ``None`` drops it.
    - The statistical profiler samples every task's stack each 10 ms, and the
      event-loop tick wakes every 20 ms; both take the GIL from the training
      thread, whose step loop is Python. Evaluations are long tasks: a
      profile of them is of no use and a 1 s tick is plenty.
    """
    import dask

    return dask.config.set(
        {
            "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
            "distributed.worker.profile.enabled": False,
            "distributed.admin.tick.interval": "1s",
        }
    )


def _isolate_random():
    """Give Dask's and tornado's modules in this process their own ``random.Random``.

    The search's operators (DEAP's among them) draw from the global
    ``random`` in the main thread, while the client's and a local scheduler's
    event-loop thread draw from it too, at times no one controls: to sample a
    long list's size (``dask.sizeof``), to pick a worker to gather from, to
    jitter retries. Those draws land between the search's own and change its
    course, so a seeded run would pick different parents from one run to the
    next. A ``Random`` instance answers the same calls (``sample``,
    ``choice``, ``random``, ...) from a stream of its own.
    """
    private = random.Random()
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in ("dask", "distributed", "tornado") and getattr(module, "random", None) is random:
            module.random = private


def _connect(distributed, scheduler, timeout):
    """A client of the running scheduler at ``scheduler``; else one line naming the address and what to check."""
    try:
        return distributed.Client(scheduler, timeout=timeout)
    except ValueError as error:  # distributed's own words name what is wrong with the address
        raise EngineError(
            f"{scheduler!r} is not a Dask scheduler address ({error}); "
            "write it as tcp://HOST:PORT, e.g. tcp://head:8786"
        ) from None
    except OSError:  # refused, unknown host or silence: distributed retries until the timeout, then says only that
        raise EngineError(
            f"no Dask scheduler answered at {scheduler} within {timeout:g} s: check that the scheduler is running "
            f"(dask scheduler --port PORT), that the host and port are right, and that no firewall blocks the port"
        ) from None


class DaskEngine(Engine):
    """Evaluations on a Dask cluster: a new local one, or the one at ``scheduler``.

    ``n_workers``: local worker processes (default: one per CUDA GPU, else 2
    or the cores, whichever is fewer); ``threads_per_worker``: Dask task
    threads per worker (keep 1: one training at a time per worker);
    ``gpu``: ask each task for ``GPU=1`` (default: when the local cluster has
    GPUs; set it for a remote cluster whose workers offer that resource);
    ``result_timeout``: seconds without any result before
    :class:`~deap_cnn.engines.LostWorkerError`, fixed (Dask reruns lost
    tasks, so this only fires when no worker is left; default: from
    ``DEAP_CNN_RESULT_TIMEOUT``, else following the run, for ``map`` and
    ``as_completed`` alike, as :mod:`deap_cnn.engines.timeout` describes;
    the policy is the ``timeout`` attribute); ``dashboard_address``: e.g.
    ``":8787"`` to watch the cluster (off by default); ``connect_timeout``:
    seconds to wait for the scheduler at ``scheduler`` to answer (default
    :data:`CONNECT_TIMEOUT`). Other keywords go to ``LocalCluster``.
    """

    name = "dask"

    def __init__(
        self,
        scheduler=None,
        n_workers=None,
        threads_per_worker=1,
        gpu=None,
        result_timeout=None,
        dashboard_address=None,
        connect_timeout=None,
        **cluster_options,
    ):
        distributed = _import_distributed()
        logging.getLogger("distributed").setLevel(_QUIET)
        self.timeout = ResultTimeout(result_timeout)
        self.cluster = None
        if scheduler is None:
            gpus = _cuda_devices()
            self.gpu = bool(gpus) if gpu is None else bool(gpu)
            if n_workers is None:
                n_workers = gpus or min(2, os.cpu_count() or 1)
            options = dict(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=dashboard_address or ":0",  # a free port, never 8787 taken by surprise
                silence_logs=_QUIET,
                env={"DEAP_CNN_LOCAL_WORKERS": str(n_workers)},
            )
            if self.gpu:
                options["resources"] = {"GPU": 1}
            options.update(cluster_options)
            with _training_worker_config():
                self.cluster = distributed.LocalCluster(**options)
            self.client = distributed.Client(self.cluster)
        else:
            self.gpu = bool(gpu)
            timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
            self.client = _connect(distributed, scheduler, timeout)
        _isolate_random()
        self._distributed = distributed
        self.closed = False

    @property
    def workers(self) -> int:
        """Workers connected now (a cluster may grow or shrink while it runs)."""
        return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def _task_options(self):
        return {"pure": False, "resources": {"GPU": 1}} if self.gpu else {"pure": False}

    def map(self, func, iterable, on_result=None) -> list:
        items = list(iterable)
        if not items:
            return []
        _isolate_random()  # again, for modules Dask imported since
        futures = self.client.map(Timed(func), items, **self._task_options())
        positions = {future.key: position for position, future in enumerate(futures)}
        results = {}
        try:
            for future in self._completed(futures):
                position = positions[future.key]
                results[position] = self.timeout.unwrap(future.result())
                if on_result is not None:
                    on_result(position, results[position])
        except LostWorkerError as lost:
            missing = [position for position in range(len(items)) if position not in results]
            raise LostWorkerError(str(lost), completed=results, missing=missing) from None
        except self._distributed.KilledWorker as error:
            missing = [position for position in range(len(items)) if position not in results]
            raise LostWorkerError(
                f"Dask gave up on an evaluation whose workers kept dying ({error}); it may crash every "
                f"worker it runs on (memory?). Completed evaluations are saved.",
                completed=results,
                missing=missing,
            ) from None
        finally:
            for future in futures:
                future.release()
        return [results[position] for position in range(len(items))]

    def submit(self, func, *args):
        """Start ``func(*args)`` on the cluster; a :class:`~deap_cnn.engines.timeout.TimedFuture` of Dask's future."""
        return TimedFuture(self.client.submit(Timed(func), *args, **self._task_options()), self.timeout)

    def as_completed(self, futures, timeout=None):
        ours = {future.future: future for future in futures}  # Dask's future -> ours
        try:
            for inner in self._completed(list(ours), timeout):
                ours[inner].settle()  # its time counts before the next wait
                yield ours[inner]
        except LostWorkerError as lost:
            raise LostWorkerError(str(lost), missing=[ours[inner] for inner in lost.missing]) from None

    def _completed(self, futures, timeout=None):
        """Dask's ``futures`` as they finish; :class:`~deap_cnn.engines.LostWorkerError` after the limit without one."""
        pending = list(futures)
        total = len(pending)
        while pending:
            limit = self.timeout.seconds if timeout is None else float(timeout)
            try:
                done, _ = self._distributed.wait(pending, timeout=limit, return_when="FIRST_COMPLETED")
            except TimeoutError:
                why = self.timeout.describe() if timeout is None else "as_completed's timeout"
                message = lost_worker_message(limit, len(pending), total, limit, why)
                raise LostWorkerError(message, missing=pending) from None
            for future in [future for future in pending if future in done]:
                pending.remove(future)
                yield future

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
