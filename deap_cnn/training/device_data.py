"""Data on the training device: uint8 tensors, normalisation statistics, a small per-process cache."""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass

import torch

from .settings import TrainSettings
from .sources import DataSource, load_data

__all__ = ["DeviceData", "channel_stats", "feature_stats", "device_data", "clear_device_cache"]


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
