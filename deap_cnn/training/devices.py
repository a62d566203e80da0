"""Which device and how many CPU threads a worker trains with; worker slots on one host."""

from __future__ import annotations

import atexit
import os
import sys
import tempfile

import torch

__all__ = ["select_device", "worker_index", "default_threads", "use_threads"]

#: Environment variables read by :func:`select_device` and :func:`default_threads`.
DEVICE_ENV = "DEAP_CNN_DEVICE"


WORKER_INDEX_ENV = "DEAP_CNN_WORKER_INDEX"


LOCAL_WORKERS_ENV = "DEAP_CNN_LOCAL_WORKERS"


def select_device(preference=None) -> torch.device:
    """The device this process trains on.

    ``preference`` (or else the ``DEAP_CNN_DEVICE`` environment variable) may
    be ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (the default: CUDA when
    available, else CPU). Where the choice is CUDA without an index and the
    machine has several GPUs, each worker process takes GPU
    ``worker_index() % device_count``, so local workers spread round-robin.
    Choosing ``"cpu"`` never touches CUDA: a CPU worker keeps no GPU context.
    """
    choice = preference if preference is not None else (os.environ.get(DEVICE_ENV) or "auto")
    text = str(choice).strip().lower()
    if text == "cpu":
        return torch.device("cpu")
    if text == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        text = "cuda"
    if not text.startswith("cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {choice!r}")
    device = torch.device(text)
    if not torch.cuda.is_available():
        raise RuntimeError(f"device {choice!r} was asked for but CUDA is not available here; use 'cpu' or 'auto'")
    count = torch.cuda.device_count()
    if device.index is None:
        return torch.device("cuda", worker_index() % count)
    if device.index >= count:
        raise ValueError(f"device {choice!r} does not exist: this machine has {count} CUDA device(s)")
    return device


_SLOT = None  # (pid, slot) claimed by this process


def worker_index() -> int:
    """A small integer, distinct among the evaluation processes on this machine.

    Taken from ``DEAP_CNN_WORKER_INDEX`` when set; otherwise the lowest free
    slot, claimed atomically by creating ``<tmp>/deap_cnn-slots-<uid>/<n>.pid``
    with ``O_CREAT | O_EXCL`` (a slot whose owner has died is reused); the
    process id if no slot can be claimed. SCOOP gives workers no index, and
    this needs none of its help.
    """
    text = os.environ.get(WORKER_INDEX_ENV)
    if text:
        try:
            index = int(text)
        except ValueError:
            raise ValueError(f"{WORKER_INDEX_ENV} must be a non-negative integer, got {text!r}") from None
        if index < 0:
            raise ValueError(f"{WORKER_INDEX_ENV} must be a non-negative integer, got {text!r}")
        return index
    global _SLOT
    if _SLOT is None or _SLOT[0] != os.getpid():  # a forked child claims its own slot
        _SLOT = (os.getpid(), _claim_slot())
    return _SLOT[1]


def _claim_slot(limit: int = 4096) -> int:
    directory = os.path.join(tempfile.gettempdir(), f"deap_cnn-slots-{getattr(os, 'getuid', lambda: 0)()}")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return os.getpid()
    for slot in range(limit):
        path = os.path.join(directory, f"{slot}.pid")
        for _ in range(2):  # second try after removing a dead owner's file
            try:
                handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if _slot_owner_alive(path):
                    break
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                continue
            except OSError:
                return os.getpid()
            with os.fdopen(handle, "w") as out:
                out.write(str(os.getpid()))
            atexit.register(_release_slot, path)
            return slot
    return os.getpid()


def _slot_owner_alive(path) -> bool:
    try:
        with open(path) as handle:
            text = handle.read().strip()
        pid = int(text)
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True  # being written right now, or unreadable: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _release_slot(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def available_cpus() -> int:
    """Cores this process may run on (its affinity mask, which containers narrow), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _scoop_workers() -> int:
    """SCOOP's worker count when this process runs under ``python -m scoop`` (one host assumed), else 1."""
    scoop = sys.modules.get("scoop")
    if scoop is not None and getattr(scoop, "IS_RUNNING", False):
        return max(1, int(getattr(scoop, "SIZE", 1) or 1))
    return 1


def default_threads() -> int:
    """Torch threads for one CPU worker: the cores shared out among the local workers.

    Every worker process would otherwise start one thread per core, so N
    workers on one machine would run N times as many threads as cores and
    lose time to switching and cache thrash. Set ``DEAP_CNN_LOCAL_WORKERS``
    to the number of worker processes per machine; by default it is SCOOP's
    worker count under ``python -m scoop`` (right for one host) and 1 otherwise.
    """
    text = os.environ.get(LOCAL_WORKERS_ENV) or str(_scoop_workers())
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise ValueError(f"{LOCAL_WORKERS_ENV} must be a positive integer (worker processes per machine), got {text!r}")
    return max(1, available_cpus() // workers)


def cpu_bf16_enabled(choice) -> bool:
    """Whether ``TrainSettings.cpu_amp`` turns bf16 autocast on for this processor."""
    if choice == "auto":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return bool(choice)


def use_threads(threads: int):
    """Set torch's intra-op threads to ``threads`` (left alone when already so: setting them is not free)."""
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
