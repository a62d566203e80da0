"""Batched augmentation on the device: random crops and flips of whole uint8 batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .settings import AUGMENTS

__all__ = ["resolve_augment", "random_crop", "random_flip", "augment_batch"]

CROP_PADDING = 4


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
