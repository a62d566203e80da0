"""Seeded, stratified training subsets of Debian's Fashion-MNIST for the benchmarks (the test set stays whole).

    from subsets import fashion_mnist_subset
    source = fashion_mnist_subset(10_000, seed=0)     # a DataSource over a cached .npz
    source = digits_images()                          # scikit-learn's digits as 1x8x8 images, for CNN families

Install the data with ``apt-get install dataset-fashion-mnist`` (IDX files in
``/usr/share/datasets/fashion-mnist``) or pass another folder of the four IDX
files. The subset is written once per (size, seed) into ``cache`` and read
from there after, so every run of a benchmark trains on the same images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from make_sample import balanced_subset

from deap_cnn.training.datasets import DataError
from deap_cnn.training.loaders import load_idx_folder
from deap_cnn.training.sources import DataSource

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / "runs" / "data-cache"


def fashion_mnist_subset(
    train_size: int, seed: int = 0, folder=DEBIAN_FASHION_MNIST, cache=DEFAULT_CACHE
) -> DataSource:
    """A :class:`DataSource` of ``train_size`` training images (the same count per class) and the whole test set.

    ``train_size`` must be a multiple of the class count (10) and at most the
    full training set; 0 means the whole training set (the IDX folder itself).
    """
    if train_size == 0:
        return DataSource(str(folder))
    if train_size < 0 or train_size % 10:
        raise SystemExit(f"error: the training subset size must be a positive multiple of 10, got {train_size}")
    path = Path(cache) / f"fashion-mnist-train{train_size}-seed{seed}.npz"
    if not path.is_file():
        try:
            full = load_idx_folder(folder, name="fashion-mnist")
        except DataError as error:
            raise SystemExit(
                f"error: {error}\nInstall Debian's copy with `apt-get install dataset-fashion-mnist`, "
                "or pass the folder of the four Fashion-MNIST IDX files"
            ) from None
        y_train = full.y_train.numpy()
        if train_size > len(y_train):
            raise SystemExit(f"error: asked for {train_size} training images; the folder holds {len(y_train)}")
        chosen = balanced_subset(y_train, train_size // full.n_classes, np.random.default_rng(seed))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez_compressed(
            partial,
            x_train=full.x_train.numpy()[chosen],
            y_train=y_train[chosen].astype(np.int64),
            x_test=full.x_test.numpy(),
            y_test=full.y_test.numpy().astype(np.int64),
            classes=np.array(full.classes),
        )
        partial.replace(path)  # atomic: a concurrent benchmark never reads half a file
    return DataSource(str(path))


def digits_images(cache=DEFAULT_CACHE) -> DataSource:
    """scikit-learn's digits as 1x8x8 grayscale images (0-16 scaled to 0-255), so CNN families train on them.

    The split is the package's own (:func:`deap_cnn.training.loaders.load_digits`: 1,438 training and 359
    test images, stratified and seeded); ``DataSource("digits")`` gives the same data as feature vectors.
    """
    from deap_cnn.training.loaders import load_digits

    path = Path(cache) / "digits-images.npz"
    if not path.is_file():
        vectors = load_digits()

        def images(x):
            return np.rint(x.numpy().reshape(-1, 8, 8) * 255.0 / 16.0).astype(np.uint8)

        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez_compressed(
            partial,
            x_train=images(vectors.x_train),
            y_train=vectors.y_train.numpy().astype(np.int64),
            x_test=images(vectors.x_test),
            y_test=vectors.y_test.numpy().astype(np.int64),
            classes=np.array(vectors.classes),
        )
        partial.replace(path)
    return DataSource(str(path))
