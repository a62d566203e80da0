"""A network's measured inference time: milliseconds per batch on a device, with warm-up and repeats.

FLOPs and parameters are what a network costs on paper; latency is what it
costs on the machine that runs it (memory traffic, kernel launches,
threads). :func:`measure_latency` times the forward pass with
``torch.utils.benchmark`` (which synchronises CUDA and keeps the thread
count fixed) after a few untimed warm-up passes, and reports the median of
its repeats: one slow repeat (another process, a page fault) moves a mean,
not a median.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["measure_latency"]

#: Untimed forward passes first: the allocator, oneDNN's kernel choice and CUDA's lazy start settle in them.
WARMUP = 3

#: Seconds of timed repeats ``blocked_autorange`` gathers at least.
MIN_RUN_TIME = 0.2


def _benchmark():
    """``torch.utils.benchmark``, imported without the CUDA_HOME notice its C++-extension import logs on a CPU build."""
    import logging

    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark
    finally:
        logger.setLevel(level)
    return benchmark


def measure_latency(
    model: nn.Module, input_shape, batch: int = 1, device=None, warmup: int = WARMUP, min_run_time=MIN_RUN_TIME
) -> float:
    """Median milliseconds of one forward pass of ``model`` on a ``batch`` of zeros of ``input_shape``.

    Runs in eval mode without gradients, on ``device`` (default: where the
    model's parameters are), and restores the model's training mode.
    """
    benchmark = _benchmark()
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"latency batch must be a whole number of at least 1, got {batch!r}")
    parameter = next(model.parameters(), None)
    device = torch.device(device) if device is not None else (parameter.device if parameter is not None else "cpu")
    inputs = torch.zeros(batch, *input_shape, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(warmup):
                model(inputs)
            timer = benchmark.Timer(
                stmt="model(inputs)", globals={"model": model, "inputs": inputs}, num_threads=torch.get_num_threads()
            )
            measurement = timer.blocked_autorange(min_run_time=min_run_time)  # same thread: no_grad holds
    finally:
        model.train(was_training)
    return measurement.median * 1000.0
