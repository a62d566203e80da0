"""How long will a candidate train? A short timed run of the space's largest candidate, before a search starts.

A user who picks CNN-GA's published widths for 32x32 images on a CPU should
learn in seconds, not after an hour, that each candidate will train for
hours. :func:`estimate_training_seconds` times a few optimiser steps of one
genome on the chosen device (a small batch, scaled up to the real one) and
extrapolates to the settings' epochs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .device_data import device_data
from .devices import default_threads, select_device, use_threads
from .evaluator import build_model
from .models import resolve_builder
from .settings import TrainSettings
from .trainer import Trainer

__all__ = ["TrainingEstimate", "estimate_training_seconds"]

#: A predicted step this short is timed on the largest network itself (three steps: seconds, not minutes).
DIRECT_STEP_SECONDS = 10.0


@dataclass(frozen=True)
class TrainingEstimate:
    """A candidate's estimated training time: ``seconds`` for ``steps`` steps of ``step_seconds`` each."""

    genome: str
    seconds: float
    steps: int
    step_seconds: float
    device: str


def time_steps(genome, source, space, settings: TrainSettings, device=None, builder=None) -> tuple[float, int]:
    """``(seconds per optimiser step, steps of a whole training)`` of ``genome``: two timed steps after a warm-up."""
    device = select_device(device)
    if device.type == "cpu":
        use_threads(default_threads())
    data = device_data(source, settings, device)
    model = build_model(genome, space.input_shape, space.n_classes, settings.seed, resolve_builder(space, builder))
    trainer = Trainer(model, data, settings)
    trainer.train_steps(1)  # warm-up: first-call allocations, kernel choice
    _wait(device)
    started = time.perf_counter()
    trainer.train_steps(2)
    _wait(device)
    return (time.perf_counter() - started) / 2, trainer.total_steps


def _wait(device):
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def estimate_training_seconds(largest, source, space, settings, device=None, builder=None, probe=None, cost=None):
    """Estimated training time of ``largest``.

    With a ``cost`` function (multiply-adds per image, such as
    :meth:`~deap_cnn.families.cnn_ga.space.SearchSpace.cost`) and a cheaper
    ``probe`` genome, the probe is timed first and its time scaled by the
    cost ratio; when that predicts a step of at most
    :data:`DIRECT_STEP_SECONDS`, ``largest`` itself is timed (small networks
    use a device less well, so the scaled figure overstates). Timing the
    largest network of a big space directly could take minutes on a CPU: there
    the scaled, cautious figure is returned.
    """
    if probe is not None and cost is not None:
        step, steps = time_steps(probe, source, space, settings, device, builder)
        step *= max(1.0, cost(largest) / max(1, cost(probe)))
        if step > DIRECT_STEP_SECONDS:
            return TrainingEstimate(str(largest), step * steps, steps, step, str(select_device(device)))
    step, steps = time_steps(largest, source, space, settings, device, builder)
    return TrainingEstimate(str(largest), step * steps, steps, step, str(select_device(device)))
