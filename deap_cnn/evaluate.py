"""Score a genome: train its network briefly and measure it on held-out data.

Training candidates is where a search spends nearly all its time, so the
loop here skips the usual per-sample machinery: the data sits on the
training device as uint8 tensors, and each batch is gathered, augmented and
normalised there in a few whole-batch tensor operations, with no
``DataLoader``, no PIL images and no per-sample Python. Models and batches
are channels-last (faster convolutions with cuDNN and with oneDNN on CPU);
on CUDA they run under bf16 autocast.

Feature vectors (a :class:`~deap_cnn.data.VectorDataset`, float32 ``(N, F)``)
take the same path for fully connected networks: each batch is standardised
per feature on the device, with no augmentation and no channels-last layout.

Fitness comes from a validation split carved out of the training set; the
test set is touched only by :func:`train_and_test`, which a search calls
once, for its final report.

:class:`Evaluator` is what DEAP calls (``toolbox.register("evaluate",
evaluator)``). It is picklable and small: SCOOP workers receive the data's
*description* and each loads the data and moves it to its device once per
process (a module-level cache holds it). A failing candidate never ends a
run: out-of-memory, a diverging loss or any error while building or
training is recorded in the :class:`EvaluationRecord` with the worst fitness.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import importlib
import json
import math
import os
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from functools import partial

import torch
import torch.nn.functional as F

from .data import DataSource, load_data
from .space import _is_int, _is_number
from .network import build_network, count_flops, count_parameters

__all__ = [
    "TrainSettings",
    "EvaluationRecord",
    "Evaluator",
    "Trainer",
    "DeviceData",
    "NonFiniteLossError",
    "train_and_test",
    "settings_for",
    "resolve_builder",
    "builder_fingerprint",
    "build_model",
    "select_device",
    "worker_index",
    "default_threads",
    "device_data",
    "clear_device_cache",
    "evaluate_genome",
    "channel_stats",
    "feature_stats",
    "random_crop",
    "random_flip",
    "resolve_augment",
    "augment_batch",
    "lr_factor",
    "worst_fitness",
    "SCHEDULES",
    "OPTIMIZERS",
    "make_optimizer",
    "FITNESSES",
    "AUGMENTS",
    "WORST_NEG_VAL_LOSS",
]

SCHEDULES = ("onecycle", "cosine", "constant")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
FITNESSES = ("best_val_acc", "last_val_acc", "neg_val_loss")
AUGMENTS = ("auto", "crop_flip", "flip", "none")

#: Fitness of a failed candidate under ``fitness="neg_val_loss"``: finite, so
#: DEAP's statistics and sorting keep working, and far below any real loss.
WORST_NEG_VAL_LOSS = -1e9

#: Environment variables read by :func:`select_device` and :func:`default_threads`.
DEVICE_ENV = "DEAP_CNN_DEVICE"
WORKER_INDEX_ENV = "DEAP_CNN_WORKER_INDEX"
LOCAL_WORKERS_ENV = "DEAP_CNN_LOCAL_WORKERS"

CROP_PADDING = 4
WARMUP_FRACTION = 0.15  # share of the steps the onecycle schedule spends warming up
EVAL_BATCH_FACTOR = 4  # validation batches are this many training batches (no activations kept)
CUDA_CHECK_EVERY = 32  # steps between loss checks on CUDA; each check waits for the GPU


# ---------------------------------------------------------------------------
# Settings and records
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    """How each candidate is trained and scored.

    Parameters
    ----------
    epochs, batch_size, lr, momentum, weight_decay, nesterov:
        Training of each candidate (CNN-GA's published code: SGD, momentum
        0.9, weight decay 5e-4, batch 128).
    optimizer:
        ``"sgd"`` (default), ``"adam"``, ``"adamw"`` or ``"rmsprop"``;
        ``momentum`` and ``nesterov`` apply to SGD (and momentum to RMSprop).
    schedule:
        ``"onecycle"`` (linear warm-up over the first 15% of steps, then
        cosine decay to zero), ``"cosine"`` (cosine decay from ``lr``) or
        ``"constant"``.
    label_smoothing:
        Of the training loss; the validation loss is plain cross-entropy.
    time_budget:
        Seconds of training per candidate, or ``None``: training stops after
        the epoch that crosses it (the schedule still assumes all ``epochs``).
    fitness:
        ``"best_val_acc"`` (highest validation accuracy over the epochs),
        ``"last_val_acc"`` (after the last epoch) or ``"neg_val_loss"`` (the
        negated lowest validation loss). A one-element tuple, maximised.
    augment:
        ``"crop_flip"`` (zero-pad 4 px, random crop back, random horizontal
        flip), ``"flip"``, ``"none"``, or ``"auto"``: crop_flip for 3-channel
        images of at least 32x32 (CIFAR-like), none otherwise (Fashion-MNIST
        and other small grayscale sets are left alone).
    val_fraction, split_seed:
        The validation split (``ImageDataset.split``).
    seed:
        Seeds weight initialisation, batch order, augmentation and random
        layers such as dropout, so an evaluation on CPU is reproducible.
    amp:
        bf16 autocast on CUDA (ignored on CPU, see ``cpu_amp``).
    cpu_amp:
        bf16 autocast on CPU: ``True``, ``False`` or ``"auto"`` (the default:
        on where the processor has native bf16, AVX512-BF16 or AMX, where it
        trains these networks about 2-2.5x faster; elsewhere bf16 is slower,
        and off). Like ``amp`` on CUDA it changes the numerics slightly (on
        the bundled sample, 0.797 against 0.800 accuracy after 4 epochs), so
        fitness can differ between processors; ``False`` keeps fp32 everywhere.
    channels_last:
        Channels-last layout for the model and batches. Measured faster for
        these networks with both cuDNN and oneDNN (CPU), so it applies on
        either device.
    max_batches_per_epoch:
        Cap on steps per epoch (quick tests and benchmarks), or ``None``.
    record_batches:
        Keep every training batch's loss and duration, and each epoch's
        duration, in the :class:`EvaluationRecord` (learning curves). Off by
        default: on CUDA each recorded batch waits for the GPU. It changes no
        fitness, so it is left out of :meth:`fingerprint`.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    optimizer: str = "sgd"
    schedule: str = "onecycle"
    label_smoothing: float = 0.0
    time_budget: float | None = None
    fitness: str = "best_val_acc"
    augment: str = "auto"
    val_fraction: float = 0.1
    split_seed: int = 0
    seed: int = 0
    amp: bool = True
    cpu_amp: bool | str = "auto"
    channels_last: bool = True
    max_batches_per_epoch: int | None = None
    record_batches: bool = False

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not _is_number(self.lr) or self.lr < 0:
            raise ValueError(f"lr must be a finite number >= 0, got {self.lr!r}")
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1), got {self.momentum!r}")
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.cpu_amp not in (True, False, "auto"):
            raise ValueError(f"cpu_amp must be True, False or 'auto', got {self.cpu_amp!r}")
        for name in ("nesterov", "amp", "channels_last", "record_batches"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.nesterov and self.momentum == 0 and self.optimizer == "sgd":
            raise ValueError("nesterov=True needs momentum > 0; set nesterov=False or give a momentum")
        for name, choices in (("schedule", SCHEDULES), ("fitness", FITNESSES), ("augment", AUGMENTS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        if not _is_number(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be a number in [0, 1), got {self.label_smoothing!r}")
        if self.time_budget is not None and (not _is_number(self.time_budget) or self.time_budget <= 0):
            raise ValueError(f"time_budget must be None or a positive number of seconds, got {self.time_budget!r}")
        if not _is_number(self.val_fraction) or not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be a number strictly between 0 and 1, got {self.val_fraction!r}")
        for name in ("split_seed", "seed"):
            if not _is_int(getattr(self, name)):
                raise ValueError(f"{name} must be an integer, got {getattr(self, name)!r}")
        cap = self.max_batches_per_epoch
        if cap is not None and (not _is_int(cap) or cap < 1):
            raise ValueError(f"max_batches_per_epoch must be None or an integer >= 1, got {cap!r}")

    def fingerprint(self) -> str:
        """A short hash of every setting that decides a fitness: the results store keys cached fitness on it."""
        settings = asdict(self)
        del settings["record_batches"]  # what is kept, not what is scored
        text = json.dumps(settings, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def worst_fitness(settings: TrainSettings) -> tuple:
    """The fitness a failed candidate gets: no real candidate scores lower."""
    return (WORST_NEG_VAL_LOSS,) if settings.fitness == "neg_val_loss" else (0.0,)


@dataclass
class EvaluationRecord:
    """Everything one evaluation produced; ``fitness`` is what DEAP sees.

    ``status`` is ``"ok"``, ``"failed"`` (an error while building or training,
    named in ``error``), ``"nan"`` (the loss stopped being finite) or
    ``"oom"`` (out of memory even at half the batch size). All but ``"ok"``
    carry the worst fitness.

    ``train_loss`` holds each epoch's mean training loss. With
    ``TrainSettings.record_batches`` the growth records are kept too:
    ``epoch_seconds`` (training plus validation, per epoch), and per epoch a
    list of every batch's training loss (``batch_loss``) and duration
    (``batch_seconds``). The results store keeps none of these four.
    """

    genome: str
    fitness: tuple
    val_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    parameters: int = 0
    flops: int = 0
    seconds: float = 0.0
    epochs: int = 0
    device: str = "cpu"
    status: str = "ok"
    error: str | None = None
    batch_size: int = 0
    train_loss: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    batch_loss: list = field(default_factory=list)
    batch_seconds: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class NonFiniteLossError(FloatingPointError):
    """A candidate's loss became NaN or infinite; it is scored as diverged, not retried."""


# ---------------------------------------------------------------------------
# Device, threads, worker index
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Data on the device
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class DeviceData:
    """Training and held-out images on one device, uint8, with the training images' channel statistics.

    ``mean`` and ``std`` are per channel on the ``[0, 1]`` scale (what
    ``torchvision.transforms.Normalize`` takes); ``scale`` and ``shift``
    apply them to raw uint8 values in one multiply-subtract.

    Feature vectors (float32 ``(N, F)``) are kept as they are, with ``mean``
    and ``std`` per feature (:func:`feature_stats`); ``scale`` and ``shift``
    then standardise each feature.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __post_init__(self):
        if self.x_train.ndim == 2:  # feature vectors
            self.scale = (1.0 / self.std).view(1, -1)
            self.shift = (self.mean / self.std).view(1, -1)
            return
        self.scale = (1.0 / (255.0 * self.std)).view(1, -1, 1, 1)
        self.shift = (self.mean / self.std).view(1, -1, 1, 1)

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def input_shape(self) -> tuple:
        return tuple(int(v) for v in self.x_train.shape[1:])

    @classmethod
    def from_tensors(cls, x_train, y_train, x_val, y_val, device) -> DeviceData:
        """Copy the four tensors to ``device`` and measure the training images' (or vectors') statistics there."""
        tensors = [t.to(device, non_blocking=True) for t in (x_train, y_train, x_val, y_val)]
        stats = feature_stats if tensors[0].ndim == 2 else channel_stats
        mean, std = stats(tensors[0])
        return cls(*tensors, mean, std)


def channel_stats(images: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 images, on the ``[0, 1]`` scale.

    Summed in float64 chunks: a float copy of a whole training set would cost
    four times its memory.
    """
    total = torch.zeros(images.shape[1], dtype=torch.float64, device=images.device)
    squares = torch.zeros_like(total)
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].to(torch.float64) / 255.0
        total += part.sum(dim=(0, 2, 3))
        squares += part.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-3)  # a constant channel stays finite
    return mean.float(), std.float()


def feature_stats(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and standard deviation of float ``(N, F)`` vectors.

    A feature that is (nearly) constant in training gets a standard deviation
    of 1, so it is centred but not blown up where it varies in held-out data.
    """
    values = vectors.to(torch.float64)
    mean = values.mean(dim=0)
    std = values.std(dim=0, unbiased=False)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return mean.float(), std.float()


_DEVICE_DATA: OrderedDict = OrderedDict()
_DEVICE_DATA_SLOTS = 2  # datasets kept per process; more would only hold device memory


def _source_key(source):
    if isinstance(source, (str, os.PathLike)):
        return DataSource(name=str(source))  # what load_data reads it as
    return source  # ImageDataset hashes by identity, DataSource by value


def device_data(source, settings: TrainSettings, device) -> DeviceData:
    """The training and validation splits of ``source`` on ``device``, built once per process.

    A SCOOP worker thus reads its data and copies it to its GPU on its first
    evaluation only. The cache holds the last two datasets.
    """
    key = (_source_key(source), str(torch.device(device)), settings.val_fraction, settings.split_seed)
    if key in _DEVICE_DATA:
        _DEVICE_DATA.move_to_end(key)
        return _DEVICE_DATA[key]
    dataset = load_data(source)
    train_idx, val_idx = dataset.split(settings.val_fraction, settings.split_seed)
    x, y = dataset.x_train, dataset.y_train
    data = DeviceData.from_tensors(x[train_idx], y[train_idx], x[val_idx], y[val_idx], device)
    _DEVICE_DATA[key] = data
    while len(_DEVICE_DATA) > _DEVICE_DATA_SLOTS:
        _DEVICE_DATA.popitem(last=False)
    return data


def clear_device_cache():
    """Drop every dataset :func:`device_data` holds in this process."""
    _DEVICE_DATA.clear()


# ---------------------------------------------------------------------------
# Batches: augmentation and normalisation on the device
# ---------------------------------------------------------------------------


def resolve_augment(mode: str, input_shape) -> str:
    """``mode`` with ``"auto"`` decided for ``input_shape``: crop_flip for CIFAR-like colour images, else none.

    Inputs that are not ``(C, H, W)`` images (feature vectors) are never augmented.
    """
    if mode not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, got {mode!r}")
    if len(input_shape) != 3:
        if mode in ("auto", "none"):
            return "none"
        raise ValueError(f"augment {mode!r} applies to (C, H, W) images, not to inputs of shape {tuple(input_shape)}")
    if mode != "auto":
        return mode
    channels, height, width = input_shape
    return "crop_flip" if channels == 3 and min(height, width) >= 32 else "none"


def random_crop(images: torch.Tensor, padding: int, generator=None) -> torch.Tensor:
    """Zero-pad every image by ``padding`` and cut it back to size at a random offset of its own.

    One gather for the whole batch: row and column indices per image are
    broadcast against each other, so no Python loop runs over the samples.
    """
    batch, channels, height, width = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, batch), generator=generator, device=device)
    rows = offsets[0, :, None] + torch.arange(height, device=device)  # (batch, height)
    cols = offsets[1, :, None] + torch.arange(width, device=device)  # (batch, width)
    return padded[
        torch.arange(batch, device=device)[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def random_flip(images: torch.Tensor, generator=None) -> torch.Tensor:
    """Mirror a random half of the batch left to right."""
    flip = torch.rand(images.shape[0], generator=generator, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def augment_batch(images: torch.Tensor, mode: str, generator=None) -> torch.Tensor:
    """``images`` (any dtype, ``(N, C, H, W)``) augmented by ``mode``; same shape and dtype."""
    if mode == "crop_flip":
        images = random_crop(images, CROP_PADDING, generator)
    if mode in ("crop_flip", "flip"):
        images = random_flip(images, generator)
    elif mode != "none":
        raise ValueError(f"augment mode must be 'crop_flip', 'flip' or 'none' here, got {mode!r}")
    return images


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def lr_factor(step: int, schedule: str, total_steps: int) -> float:
    """Multiplier of the base learning rate at ``step`` of ``total_steps``."""
    progress = min(step / max(1, total_steps), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if progress < WARMUP_FRACTION:  # onecycle: warm up from lr/10, then cosine down to zero
        return 0.1 + 0.9 * progress / WARMUP_FRACTION
    return 0.5 * (1.0 + math.cos(math.pi * (progress - WARMUP_FRACTION) / (1.0 - WARMUP_FRACTION)))


def make_optimizer(parameters, settings: TrainSettings) -> torch.optim.Optimizer:
    """The optimiser ``settings.optimizer`` names, with the settings' rate, momentum and decay."""
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            parameters,
            lr=settings.lr,
            momentum=settings.momentum,
            weight_decay=settings.weight_decay,
            nesterov=settings.nesterov,
        )
    if settings.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    optimizer = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.AdamW
    return optimizer(parameters, lr=settings.lr, weight_decay=settings.weight_decay)


class Trainer:
    """One candidate's training: model, optimiser, schedule and the batches it draws.

    Both :meth:`Evaluator.record` and ``benchmarks/throughput.py`` train
    through :meth:`train_steps`, so the benchmark times the real path.

    Parameters
    ----------
    model:
        Moved to ``data.device`` (channels-last when ``settings.channels_last``).
    data:
        :class:`DeviceData` to train on and to :meth:`evaluate` against.
    settings:
        The :class:`TrainSettings`.
    batch_size:
        Overrides ``settings.batch_size`` (the out-of-memory retry halves it).
    """

    def __init__(self, model, data: DeviceData, settings: TrainSettings, batch_size: int | None = None):
        self.data = data
        self.settings = settings
        self.device = data.device
        self.batch_size = batch_size or settings.batch_size
        self.is_cuda = self.device.type == "cuda"
        self.vectors = data.x_train.ndim == 2
        channels_last = settings.channels_last and not self.vectors  # a 4-d layout: images only
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if self.vectors:
            self._prepare = self._standardise  # chosen once here, not tested per batch
        self.autocast = settings.amp if self.is_cuda else cpu_bf16_enabled(settings.cpu_amp)
        self.augment = resolve_augment(settings.augment, data.input_shape)
        n_train = data.x_train.shape[0]
        self.full_batches = n_train // self.batch_size
        # Whole batches only (a last batch of one breaks BatchNorm); a set smaller than a batch is one batch.
        self.steps_per_epoch = max(1, self.full_batches)
        if settings.max_batches_per_epoch is not None:
            self.steps_per_epoch = min(self.steps_per_epoch, settings.max_batches_per_epoch)
        self.total_steps = settings.epochs * self.steps_per_epoch
        if self.is_cuda:
            torch.backends.cudnn.benchmark = True  # fixed batch shapes for many steps: tuning pays for itself
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.optimizer = make_optimizer(self.model.parameters(), settings)
        factor = partial(lr_factor, schedule=settings.schedule, total_steps=self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.generator = torch.Generator(device=self.device).manual_seed(settings.seed)
        self.check_every = CUDA_CHECK_EVERY if self.is_cuda else 1  # a CPU check costs nothing: no queue to drain
        self.steps_done = 0
        self._order = None  # this epoch's permutation of the training indices
        self._position = 0
        # With settings.record_batches: one list per train_steps call (an epoch), of losses and seconds.
        self.batch_loss, self.batch_seconds = [], []

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images to normalised float32 in the model's memory format."""
        images = images.to(torch.float32).mul_(self.data.scale).sub_(self.data.shift)
        return images.contiguous(memory_format=self.memory_format)

    def _standardise(self, vectors: torch.Tensor) -> torch.Tensor:
        """float32 feature vectors standardised per feature; the stored data is left alone (no in-place first step)."""
        return vectors.mul(self.data.scale).sub_(self.data.shift)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next augmented, normalised training batch; a fresh permutation each epoch."""
        n_train = self.data.x_train.shape[0]
        if self._order is None or self._position >= self.steps_per_epoch:
            self._order = torch.randperm(n_train, generator=self.generator, device=self.device)
            self._position = 0
        start = self._position * self.batch_size
        index = self._order[start : start + self.batch_size]
        self._position += 1
        images = augment_batch(self.data.x_train.index_select(0, index), self.augment, self.generator)
        return self._prepare(images), self.data.y_train.index_select(0, index)

    def train_steps(self, steps: int) -> float:
        """Run ``steps`` optimiser steps; return their mean training loss.

        Raises :class:`NonFiniteLossError` as soon as a check sees a NaN or
        infinite loss. The loss is summed on the device and read back every
        ``check_every`` steps, so a GPU is not stalled on every step.
        With ``settings.record_batches`` each step's loss and duration are
        appended to new lists in :attr:`batch_loss` and :attr:`batch_seconds`
        (each step then waits for its loss).
        """
        self.model.train()
        total = torch.zeros((), device=self.device)
        recording = self.settings.record_batches
        if recording:
            self.batch_loss.append([])
            self.batch_seconds.append([])
            step_started = time.perf_counter()
        for step in range(1, steps + 1):
            images, labels = self.next_batch()
            with self._autocast():
                loss = F.cross_entropy(self.model(images), labels, label_smoothing=self.settings.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.steps_done += 1
            total += loss.detach().float()
            if recording:
                self.batch_loss[-1].append(float(loss.detach()))
                now = time.perf_counter()
                self.batch_seconds[-1].append(now - step_started)
                step_started = now
            if step % self.check_every == 0 or step == steps:
                if not torch.isfinite(total).item():
                    raise NonFiniteLossError(f"training loss is not finite at step {self.steps_done}")
        return float(total) / max(1, steps)

    def train_epoch(self) -> float:
        """One epoch of ``steps_per_epoch`` steps; its mean training loss."""
        return self.train_steps(self.steps_per_epoch)

    def evaluate(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> tuple[float, float]:
        """Accuracy and mean cross-entropy on ``images``/``labels`` (default: the held-out split)."""
        images = self.data.x_val if images is None else images
        labels = self.data.y_val if labels is None else labels
        self.model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        step = self.batch_size * EVAL_BATCH_FACTOR
        with torch.inference_mode(), self._autocast():
            for start in range(0, images.shape[0], step):
                logits = self.model(self._prepare(images[start : start + step])).float()
                target = labels[start : start + step]
                loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
                correct += (logits.argmax(dim=1) == target).sum()
        self.model.train()
        count = max(1, images.shape[0])
        return int(correct) / count, float(loss_sum) / count


def build_model(genome, input_shape, n_classes: int, seed: int = 0, builder=build_network):
    """``builder``'s network for ``genome``, its weights drawn from ``seed``; the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(genome, input_shape, n_classes)


def _is_oom(error: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    return isinstance(error, (oom_type, torch.cuda.OutOfMemoryError)) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error)
    )


def _fitness(record: EvaluationRecord, kind: str) -> tuple:
    if kind == "best_val_acc":
        return (max(record.val_accuracy),)
    if kind == "last_val_acc":
        return (record.val_accuracy[-1],)
    return (-min(record.val_loss),)


@contextlib.contextmanager
def _seeded_global_rng(device: torch.device, seed: int):
    """Seed torch's global generators (dropout draws from them) for one candidate; restore them after."""
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.default_generators[device.index or 0].manual_seed(seed)
        yield


def _train_candidate(genome, data, space, settings, batch_size, builder, record):
    """Build, train and validate one candidate, filling ``record`` as it goes."""
    model = build_model(genome, space.input_shape, space.n_classes, settings.seed, builder)
    record.parameters = count_parameters(model)
    record.flops = count_flops(model, space.input_shape)
    with _seeded_global_rng(data.device, settings.seed):
        _train_epochs(model, data, settings, batch_size, record)


def _train_epochs(model, data, settings, batch_size, record):
    """Train ``model`` epoch by epoch, validating after each, until the epochs or the time budget run out."""
    trainer = Trainer(model, data, settings, batch_size=batch_size)
    if settings.record_batches:
        record.batch_loss, record.batch_seconds = trainer.batch_loss, trainer.batch_seconds
    started = time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        epoch_started = time.perf_counter()
        record.train_loss.append(trainer.train_epoch())
        accuracy, loss = trainer.evaluate()
        record.val_accuracy.append(accuracy)
        record.val_loss.append(loss)
        record.epochs = epoch
        if settings.record_batches:
            record.epoch_seconds.append(time.perf_counter() - epoch_started)
        if not math.isfinite(loss):
            raise NonFiniteLossError(f"validation loss is not finite after epoch {epoch}")
        if settings.time_budget is not None and time.perf_counter() - started >= settings.time_budget:
            break
    record.fitness = _fitness(record, settings.fitness)


def _free(device: torch.device, after_error: bool):
    # A caught exception's traceback links frames that hold the model: only a collection frees them.
    if after_error:
        gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def evaluate_genome(genome, data: DeviceData, space, settings: TrainSettings, builder=build_network):
    """Train and score ``genome`` on ``data``; never raises for the candidate's own failures.

    Out of memory is retried once at half the batch size. See
    :class:`EvaluationRecord` for the statuses.
    """
    started = time.perf_counter()
    worst = worst_fitness(settings)
    record = EvaluationRecord(genome=str(genome), fitness=worst, device=str(data.device))
    batch_size = settings.batch_size
    for attempt in (1, 2):
        record.batch_size = batch_size
        record.val_accuracy, record.val_loss, record.epochs = [], [], 0
        record.train_loss, record.epoch_seconds, record.batch_loss, record.batch_seconds = [], [], [], []
        retry = failed = False
        try:
            _train_candidate(genome, data, space, settings, batch_size, builder, record)
            record.status, record.error = "ok", None
        except NonFiniteLossError as error:
            failed = True
            record.status, record.error = "nan", str(error)
        except Exception as error:  # a candidate's failure is a result, not the end of the run
            failed = True
            message = f"{type(error).__name__}: {error}"
            if _is_oom(error):
                retry = attempt == 1 and batch_size > 1
                suffix = "" if attempt == 1 else f" (already retried at batch size {batch_size})"
                record.status, record.error = "oom", message + suffix
            else:
                record.status, record.error = "failed", message
        _free(data.device, failed)
        if not retry:
            break
        batch_size //= 2
    if record.status != "ok":
        record.fitness = worst
    record.seconds = time.perf_counter() - started
    return record


# ---------------------------------------------------------------------------
# The evaluator DEAP calls
# ---------------------------------------------------------------------------


def settings_for(genome, settings: TrainSettings) -> TrainSettings:
    """``settings`` with ``genome``'s own hyperparameter genes applied, if it has any.

    A genome that carries hyperparameters offers them as
    ``genome.training_overrides() -> dict`` of :class:`TrainSettings` fields.
    """
    overrides = getattr(genome, "training_overrides", None)
    return replace(settings, **overrides()) if overrides is not None else settings


def resolve_builder(space, builder=None):
    """The network builder for ``space``'s genomes: ``builder`` when given, else the one the space names.

    A genome family's space names its default builder as a
    ``"module:function"`` string (``network_builder``), so the space itself
    stays free of torch. Spaces whose networks need settings of their own
    (a transfer-learning backbone) name none, and a builder must be passed.
    """
    if builder is None:
        name = getattr(space, "network_builder", None)
        if not name:
            raise TypeError(
                f"{type(space).__name__} names no default network builder: "
                "pass builder=... (e.g. a TransferBuilder) to the Evaluator"
            )
        module, _, attribute = name.partition(":")
        builder = getattr(importlib.import_module(module), attribute)
    if not callable(builder):
        raise TypeError(f"builder must be callable as builder(genome, input_shape, n_classes), got {builder!r}")
    return builder


def builder_fingerprint(builder) -> str:
    """What identifies a builder in a cache key: its own ``fingerprint()``, else its qualified name."""
    own = getattr(builder, "fingerprint", None)
    if callable(own):
        return str(own())
    return f"{getattr(builder, '__module__', '')}.{getattr(builder, '__qualname__', repr(builder))}"


class Evaluator:
    """Fitness of genomes, for ``toolbox.register("evaluate", evaluator)``.

    Parameters
    ----------
    data:
        Anything :func:`deap_cnn.data.load_data` accepts. Prefer a
        :class:`~deap_cnn.data.DataSource` or a name when evaluating on SCOOP
        workers: the evaluator is pickled to each, and an ``ImageDataset``
        would travel with it.
    space:
        The :class:`~deap_cnn.SearchSpace`; its ``input_shape`` and
        ``n_classes`` must fit the data (checked here, before any training:
        a mismatch raises :class:`~deap_cnn.data.DataError`).
    settings:
        The :class:`TrainSettings`.
    device:
        Passed to :func:`select_device` in each process that evaluates
        (``None``: ``DEAP_CNN_DEVICE``, else CUDA when available).
    threads:
        Torch threads on CPU (default :func:`default_threads`).
    builder:
        ``builder(genome, input_shape, n_classes) -> nn.Module``; a picklable
        callable (tests pass failing ones). ``None``: the builder the space
        names (:func:`resolve_builder`).

    Only these arguments make up its state, so it pickles small; data and
    device live in a per-process cache.
    """

    def __init__(self, data, space, settings=TrainSettings(), device=None, threads=None, builder=None):
        if not isinstance(settings, TrainSettings):
            raise TypeError(f"settings must be a TrainSettings, got {type(settings).__name__}")
        if threads is not None and (not _is_int(threads) or threads < 1):
            raise ValueError(f"threads must be None or an integer >= 1, got {threads!r}")
        self.data = data
        self.space = space
        self.settings = settings
        self.device = device
        self.threads = threads
        self.builder = resolve_builder(space, builder)
        load_data(data).check_fits(space.input_shape, space.n_classes)

    def __repr__(self):
        return (
            f"Evaluator(data={self.data!r}, space={self.space!r}, settings={self.settings!r}, "
            f"device={self.device!r}, threads={self.threads!r})"
        )

    def __call__(self, genome) -> tuple:
        return self.record(genome).fitness

    def fingerprint(self) -> str:
        """A short hash of what decides a fitness: settings, data and the space's shapes.

        Two evaluators with the same fingerprint give a genome the same
        fitness (up to nondeterminism on GPUs), so a cache may share results.
        """
        data = load_data(self.data)
        source = self.data if isinstance(self.data, DataSource) else (data.name, len(data.x_train))
        text = json.dumps(
            [
                self.settings.fingerprint(),
                repr(source),
                list(self.space.input_shape),
                self.space.n_classes,
                builder_fingerprint(self.builder),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def genome(self, genome):
        """``genome`` (a genome, an individual or canonical text) checked against the space.

        The space parses text and validates (``space.validate``), so genome
        families other than CNN-GA's plug in with their own space and builder.
        """
        return self.space.validate(genome)

    def settings_for(self, genome) -> TrainSettings:
        """The settings ``genome`` trains with: its own hyperparameter genes, if any, override the evaluator's.

        See :func:`settings_for`.
        """
        return settings_for(genome, self.settings)

    def record(self, genome) -> EvaluationRecord:
        """Train and score ``genome``; the record says how it went.

        Raises only for usage errors (an invalid genome, data that does not
        fit the space); a candidate's own failures are recorded.
        """
        genome = self.genome(genome)
        device = select_device(self.device)
        # Again here: a worker unpickles the evaluator without __init__, and may read other files.
        load_data(self.data).check_fits(self.space.input_shape, self.space.n_classes)
        settings = self.settings_for(genome)
        if device.type == "cuda":
            torch.cuda.set_device(device)  # keep this worker's context and cuDNN handles on its own GPU
        data = device_data(self.data, settings, device)
        if device.type == "cpu":
            _use_threads(self.threads or default_threads())
        return evaluate_genome(genome, data, self.space, settings, self.builder)


def cpu_bf16_enabled(choice) -> bool:
    """Whether ``TrainSettings.cpu_amp`` turns bf16 autocast on for this processor."""
    if choice == "auto":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return bool(choice)


def _use_threads(threads: int):
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------
# The final report
# ---------------------------------------------------------------------------


def train_and_test(genome, data, space, settings=TrainSettings(), device=None, builder=None) -> dict:
    """Retrain ``genome`` on the whole training set and measure it once on the test set.

    The search's fitness never sees the test set; this is the number to
    report for the architecture it found. Unlike :meth:`Evaluator.record`
    it raises on failure: there is nothing left to score it against.

    Returns a dict: ``genome``, ``test_accuracy``, ``test_loss``,
    ``train_loss`` (per epoch), ``epochs``, ``parameters``, ``flops``,
    ``seconds``, ``device``, ``batch_size`` and the trained ``model``.
    """
    started = time.perf_counter()
    genome = space.validate(genome)
    settings = settings_for(genome, settings)
    builder = resolve_builder(space, builder)
    dataset = load_data(data)
    dataset.check_fits(space.input_shape, space.n_classes)
    device = select_device(device)
    if device.type == "cpu":
        _use_threads(default_threads())
    device_set = DeviceData.from_tensors(dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test, device)
    model = build_model(genome, space.input_shape, space.n_classes, settings.seed, builder)
    parameters, flops = count_parameters(model), count_flops(model, space.input_shape)
    trainer = Trainer(model, device_set, settings)
    train_loss = []
    train_started = time.perf_counter()
    with _seeded_global_rng(device_set.device, settings.seed):
        for _ in range(settings.epochs):
            train_loss.append(trainer.train_epoch())
            if settings.time_budget is not None and time.perf_counter() - train_started >= settings.time_budget:
                break
    accuracy, loss = trainer.evaluate()  # the held-out split here is the test set
    return {
        "genome": str(genome),
        "test_accuracy": accuracy,
        "test_loss": loss,
        "train_loss": train_loss,
        "epochs": len(train_loss),
        "parameters": parameters,
        "flops": flops,
        "seconds": time.perf_counter() - started,
        "device": str(device),
        "batch_size": trainer.batch_size,
        "model": trainer.model.to(memory_format=torch.contiguous_format),
    }
