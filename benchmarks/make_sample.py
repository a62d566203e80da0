"""Build the bundled sample ``deap_cnn/sample_data/fashion_mnist_sample.npz``.

A seeded, class-balanced subset of Fashion-MNIST: 300 training and 100 test
images per class (3000 and 1000 in all), uint8 ``(N, 1, 28, 28)`` images,
int64 labels and the class names, compressed. Balanced so that accuracy on
the sample means the same thing for every class; seeded so that rebuilding
gives the same file.

    python benchmarks/make_sample.py [--source DIR] [--out FILE] [--seed N]

The default source is Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``); any folder of the four Fashion-MNIST
IDX files works.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from deap_cnn.training.loaders import load_idx_folder

DEFAULT_SOURCE = "/usr/share/datasets/fashion-mnist"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "deap_cnn" / "sample_data" / "fashion_mnist_sample.npz"
TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100


def balanced_subset(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``per_class`` samples of every class, drawn without replacement."""
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if members.size < per_class:
            raise SystemExit(f"class {label} has {members.size} samples, fewer than the {per_class} asked for")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="folder of the Fashion-MNIST IDX files")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="the .npz to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    full = load_idx_folder(args.source, name="fashion-mnist")
    rng = np.random.default_rng(args.seed)
    y_train, y_test = full.y_train.numpy(), full.y_test.numpy()
    train_idx = balanced_subset(y_train, TRAIN_PER_CLASS, rng)
    test_idx = balanced_subset(y_test, TEST_PER_CLASS, rng)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        x_train=full.x_train.numpy()[train_idx],
        y_train=y_train[train_idx].astype(np.int64),
        x_test=full.x_test.numpy()[test_idx],
        y_test=y_test[test_idx].astype(np.int64),
        classes=np.array(full.classes),
    )
    print(f"wrote {out} ({out.stat().st_size} bytes): {train_idx.size} train, {test_idx.size} test images")


if __name__ == "__main__":
    main()
