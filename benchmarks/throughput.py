"""Training throughput: the evaluator's path against the common PyTorch recipe.

Trains one fixed genome for a fixed number of steps, in one process, twice:

1. through :class:`deap_cnn.training.trainer.Trainer`, the very code
   ``Evaluator.record`` trains with (uint8 data on the device, whole-batch
   augmentation and normalisation there, channels-last, bf16 on CUDA);
2. the way most training scripts are written: a ``Dataset`` that hands out
   PIL images (as torchvision's datasets do), per-sample ``transforms``
   (``RandomCrop(padding=4)`` and ``RandomHorizontalFlip`` when augmenting,
   then ``ToTensor`` and ``Normalize``), a shuffling ``DataLoader``, fp32.

Same network and initial weights, same batch size, same SGD settings, same
training images and the same augmentation choice. Both warm up before the
clock starts; each path is timed ``--repeats`` times, alternating, and the
best round counts (the least disturbed by other load on the machine).
Also prints the evaluator's fixed cost per candidate.

    python benchmarks/throughput.py [--genome S64-Pmax-S128-Pmax-S128] [--steps 30]
        [--data sample] [--augment auto] [--device auto] [--cpu-amp auto|on|off]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from deap_cnn import Genome
from deap_cnn.training.augment import resolve_augment
from deap_cnn.training.device_data import DeviceData, clear_device_cache, device_data
from deap_cnn.training.devices import default_threads, select_device
from deap_cnn.training.evaluator import build_model
from deap_cnn.training.models import count_flops, count_parameters
from deap_cnn.training.settings import AUGMENTS, TrainSettings
from deap_cnn.training.sources import load_data
from deap_cnn.training.trainer import Trainer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genome", default="S64-Pmax-S128-Pmax-S128", help="canonical genome to train")
    parser.add_argument(
        "--data", default="sample", help="anything deap_cnn.training.sources.load_data accepts (default: sample)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps per round (default: 30 on CPU, 200 on CUDA)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before each path's first round")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per path, alternating; the best counts")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--augment", choices=AUGMENTS, default="auto", help="same choice for both paths")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: DEAP_CNN_DEVICE, else auto)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the baseline")
    parser.add_argument("--threads", type=int, default=None, help="torch threads on CPU (default: all cores)")
    parser.add_argument(
        "--cpu-amp",
        default="auto",
        choices=["on", "off", "auto"],
        help="evaluator path in bf16 on CPU: on, off, or auto (TrainSettings' default: on with native bf16)",
    )
    return parser.parse_args(argv)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------
# The baseline: the usual recipe
# ---------------------------------------------------------------------------


class PILImages(Dataset):
    """uint8 ``(N, C, H, W)`` images served one at a time as PIL images, like torchvision's datasets."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images = images.transpose(0, 2, 3, 1)  # (N, H, W, C), as torchvision keeps CIFAR
        self.labels = labels
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = self.images[index]
        image = Image.fromarray(image[:, :, 0], mode="L") if image.shape[2] == 1 else Image.fromarray(image)
        return self.transform(image), int(self.labels[index])


def baseline_transform(augment: str, input_shape, mean, std):
    steps = []
    if augment == "crop_flip":
        steps.append(transforms.RandomCrop(input_shape[1:], padding=4))
    if augment in ("crop_flip", "flip"):
        steps.append(transforms.RandomHorizontalFlip())
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


class Baseline:
    """A DataLoader training loop as tutorials write it, on the same model and optimiser settings."""

    def __init__(self, genome, n_classes, data: DeviceData, settings: TrainSettings, device, workers: int):
        augment = resolve_augment(settings.augment, data.input_shape)
        transform = baseline_transform(augment, data.input_shape, data.mean.tolist(), data.std.tolist())
        dataset = PILImages(data.x_train.cpu().numpy(), data.y_train.cpu().numpy(), transform)
        self.loader = DataLoader(
            dataset,
            batch_size=settings.batch_size,
            shuffle=True,
            num_workers=workers,
            drop_last=True,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
        )
        self.device = device
        model = build_model(genome, data.input_shape, n_classes, settings.seed)
        self.model = model.to(device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=settings.lr,
            momentum=settings.momentum,
            weight_decay=settings.weight_decay,
            nesterov=settings.nesterov,
        )
        self.batches = iter(self.loader)
        self.running_loss = 0.0

    def next_batch(self):
        try:
            images, labels = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            images, labels = next(self.batches)
        return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)

    def train_steps(self, steps: int):
        self.model.train()
        for _ in range(steps):
            images, labels = self.next_batch()
            loss = F.cross_entropy(self.model(images), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.running_loss += loss.item()  # as the PyTorch tutorials log it


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def timed(function, device):
    synchronize(device)
    start = time.perf_counter()
    result = function()
    synchronize(device)
    return time.perf_counter() - start, result


def candidate_overhead(genome, n_classes, data, settings, device, repeats=5):
    """Median ms of the evaluator's fixed work per candidate: build, count, move and set up."""
    parts = {"build": [], "count": [], "to_device": []}
    for _ in range(repeats):
        seconds, model = timed(lambda: build_model(genome, data.input_shape, n_classes, settings.seed), device)
        parts["build"].append(seconds)
        seconds, _ = timed(lambda model=model: (count_parameters(model), count_flops(model, data.input_shape)), device)
        parts["count"].append(seconds)
        seconds, _ = timed(lambda model=model: Trainer(model, data, settings), device)
        parts["to_device"].append(seconds)
    return {name: 1000 * statistics.median(values) for name, values in parts.items()}


def main(argv=None):
    args = parse_args(argv)
    device = select_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads or default_threads())
    steps = args.steps or (200 if device.type == "cuda" else 30)
    genome = Genome.from_string(args.genome)
    dataset = load_data(args.data)
    settings = TrainSettings(
        epochs=1000,  # the schedule only sets the learning rate; keep it away from zero over the timed steps
        batch_size=args.batch_size,
        augment=args.augment,
        cpu_amp={"on": True, "off": False, "auto": "auto"}[args.cpu_amp],
    )
    augment = resolve_augment(settings.augment, dataset.input_shape)

    clear_device_cache()
    data_seconds, data = timed(lambda: device_data(args.data, settings, device), device)
    n_classes = dataset.n_classes
    overhead = candidate_overhead(genome, n_classes, data, settings, device)

    model = build_model(genome, data.input_shape, n_classes, settings.seed)
    fast = Trainer(model, data, settings)
    setup_seconds, slow = timed(lambda: Baseline(genome, n_classes, data, settings, device, args.workers), device)

    print(f"genome {args.genome}  ({count_parameters(model):,} parameters)")
    print(
        f"data {dataset.name}: {data.x_train.shape[0]} training images {data.input_shape}, augment={augment}, "
        f"batch {settings.batch_size}, device {device}"
        + (f", {torch.get_num_threads()} threads" if device.type == "cpu" else "")
    )
    precision = "bf16 autocast" if fast.autocast else "fp32"
    layout = "channels-last" if settings.channels_last else "contiguous"
    print(f"evaluator path: {precision}, {layout}; baseline: fp32, contiguous, DataLoader(num_workers={args.workers})")
    print(f"warm-up {args.warmup} steps, then {args.repeats} x {steps} timed steps per path")

    timed(lambda: fast.train_steps(args.warmup), device)
    timed(lambda: slow.train_steps(args.warmup), device)
    rounds = {"evaluator": [], "baseline": []}
    for _ in range(args.repeats):
        rounds["evaluator"].append(timed(lambda: fast.train_steps(steps), device)[0])
        rounds["baseline"].append(timed(lambda: slow.train_steps(steps), device)[0])

    pipeline = {}
    for name, path in (("evaluator", fast), ("baseline", slow)):
        seconds, _ = timed(lambda path=path: [path.next_batch() for _ in range(steps)], device)
        pipeline[name] = 1000 * seconds / steps

    images = steps * settings.batch_size
    rates = {name: images / min(times) for name, times in rounds.items()}
    for name, times in rounds.items():
        each = ", ".join(f"{images / t:.0f}" for t in times)
        print(f"{name:>9} path: {rates[name]:8.1f} images/s   (rounds: {each})")
    print(f"    ratio: {rates['evaluator'] / rates['baseline']:.2f}x  (evaluator / baseline)")
    print(
        f"input pipeline alone (gather, augment, normalise, to device): evaluator {pipeline['evaluator']:.2f} "
        f"ms/batch, baseline {pipeline['baseline']:.2f} ms/batch ({pipeline['baseline'] / pipeline['evaluator']:.0f}x)"
    )
    total = sum(overhead.values())
    print(
        f"per-candidate overhead (evaluator): {total:.1f} ms  = build {overhead['build']:.1f} + "
        f"count params/FLOPs {overhead['count']:.1f} + to device & set up {overhead['to_device']:.1f}"
    )
    print(f"data to device, once per process: {1000 * data_seconds:.1f} ms")
    print(f"baseline set-up (Dataset, DataLoader, model, optimiser): {1000 * setup_seconds:.1f} ms")


if __name__ == "__main__":
    main()
