"""The final report: retrain a genome on the whole training set and measure it once on the test set."""

from __future__ import annotations

import time

import torch

from .device_data import DeviceData
from .devices import default_threads, select_device, use_threads
from .evaluator import _seeded_global_rng, build_model
from .models import count_flops, count_parameters, resolve_builder
from .settings import TrainSettings, settings_for
from .sources import load_data
from .trainer import Trainer

__all__ = ["train_and_test"]


def train_and_test(genome, data, space, settings=TrainSettings(), device=None, builder=None) -> dict:
    """Retrain ``genome`` on the whole training set and measure it once on the test set.

    The search's fitness never sees the test set; this is the number to
    report for the architecture it found. Unlike :meth:`~deap_cnn.training.evaluator.Evaluator.record`
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
        use_threads(default_threads())
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
