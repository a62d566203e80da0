"""One candidate's training loop: learning-rate schedules, optimisers and the Trainer."""

from __future__ import annotations

import math
import time
from functools import partial

import torch
import torch.nn.functional as F

from .augment import augment_batch, resolve_augment
from .device_data import DeviceData
from .devices import cpu_bf16_enabled
from .settings import WARMUP_FRACTION, TrainSettings

__all__ = ["NonFiniteLossError", "lr_factor", "make_optimizer", "Trainer"]

EVAL_BATCH_FACTOR = 4  # validation batches are this many training batches (no activations kept)


CUDA_CHECK_EVERY = 32  # steps between loss checks on CUDA; each check waits for the GPU


class NonFiniteLossError(FloatingPointError):
    """A candidate's loss became NaN or infinite; it is scored as diverged, not retried."""


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
        return torch.optim.RMSprop(
            parameters, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    optimizer = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.AdamW
    return optimizer(parameters, lr=settings.lr, weight_decay=settings.weight_decay)


class Trainer:
    """One candidate's training: model, optimiser, schedule and the batches it draws.

    Both :meth:`~deap_cnn.training.evaluator.Evaluator.record` and ``benchmarks/throughput.py`` train
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
        self.total_steps = (settings.schedule_epochs or settings.epochs) * self.steps_per_epoch
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

    def state_dict(self) -> dict:
        """Everything training on needs: model, optimiser, schedule, batch order and its generator, steps done."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "order": None if self._order is None else self._order.cpu(),
            "position": self._position,
            "steps_done": self.steps_done,
        }

    def load_state_dict(self, state: dict):
        """Continue from :meth:`state_dict`: the next step is the one the saved trainer would have taken."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self._order = None if state["order"] is None else state["order"].to(self.device)
        self._position = state["position"]
        self.steps_done = state["steps_done"]

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
        appended to new lists in ``batch_loss`` and ``batch_seconds``
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
