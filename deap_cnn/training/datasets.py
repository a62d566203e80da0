"""Image classification data: one in-memory form, many ways to get there.

Every source (arrays, the CNN-GA dict, ``.npz`` files, IDX folders, the
torchvision on-disk layouts, folders of image files, the bundled sample)
ends in an :class:`ImageDataset`: uint8 ``(N, C, H, W)`` images and int64
labels as torch tensors. Images stay uint8 until a batch is trained on, so
a CIFAR-10 copy costs 180 MB rather than four times that, and sharing it
with evaluation workers is cheap.

Each problem with the data raises :class:`DataError`, whose message names
the problem, the offending value and a way to fix it: a search that runs for
hours should fail in its first second when the data cannot serve it.

:class:`~deap_cnn.training.sources.DataSource` is the small, picklable description of where data lives
(``DataSource("cifar10", root="data")``); SCOOP workers receive it instead
of the tensors and each loads the data once per process (:meth:`~deap_cnn.training.sources.DataSource.load`
caches).

Feature vectors, for fully connected networks, have their own in-memory
form, :class:`VectorDataset` (float32 ``(N, F)``), with the same interface;
:func:`from_vectors` builds one from arrays and :func:`~deap_cnn.training.loaders.load_digits` reads
scikit-learn's bundled digits (``DataSource("digits")``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..families.base import is_int

ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")

__all__ = [
    "FASHION_MNIST_CLASSES",
    "DataError",
    "ImageDataset",
    "from_arrays",
    "from_dict",
    "VectorDataset",
    "from_vectors",
]

#: Class names of Fashion-MNIST, in label order.
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


#: Class names of MNIST: the digits.
DIGIT_CLASSES = tuple(str(d) for d in range(10))


_CHANNEL_COUNTS = (1, 3, 4)


_GRAY_MODES = ("1", "L", "I", "I;16", "F")


class DataError(ValueError):
    """The data cannot serve a search; the message names the problem, the value and the fix."""


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A train and a test set of images, checked once on construction.

    Parameters
    ----------
    x_train, x_test:
        uint8 tensors of shape ``(N, C, H, W)`` and ``(M, C, H, W)``; made
        contiguous here so batches slice without copies.
    y_train, y_test:
        int64 tensors of shape ``(N,)`` and ``(M,)``, labels in ``[0, n_classes)``.
    classes:
        One name per class, in label order; ``len(classes)`` is the class count.
    name:
        A label for messages and results.

    Notes
    -----
    Build one with :func:`from_arrays` (or any ``load_*`` function) rather than
    by hand: those convert layouts and dtypes, this class only checks them.
    Equality is identity (``eq=False``): comparing tensors element-wise is
    rarely what a caller means, and identity makes the object hashable.
    """

    items = "images"  # what one input is called in messages

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple
    name: str = "dataset"

    def __post_init__(self):
        for split in ("train", "test"):
            images = _check_tensor(self, f"x_{split}", torch.uint8, 4, "(N, C, H, W)")
            labels = _check_tensor(self, f"y_{split}", torch.int64, 1, "(N,)")
            if images.shape[0] != labels.shape[0]:
                raise DataError(
                    f"{self.name}: mismatched lengths in the {split} set: {images.shape[0]} images but "
                    f"{labels.shape[0]} labels; pass exactly one label per image"
                )
            if images.shape[0] == 0:
                raise DataError(
                    f"{self.name}: empty {split} set (0 images); a search needs images to train on "
                    "and to test on, so pass at least one of each"
                )
            if min(images.shape[1:]) < 1:
                raise DataError(
                    f"{self.name}: x_{split} images have shape {tuple(images.shape[1:])}; "
                    "channels, height and width must all be at least 1"
                )
            object.__setattr__(self, f"x_{split}", images.contiguous())
            object.__setattr__(self, f"y_{split}", labels.contiguous())
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"{self.name}: train images have shape {tuple(self.x_train.shape[1:])} but test images "
                f"{tuple(self.x_test.shape[1:])}; resize one set so both share one (C, H, W)"
            )
        _check_classes_and_labels(self)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple:
        """``(C, H, W)`` as plain ints: what :class:`deap_cnn.SearchSpace` takes."""
        return tuple(int(v) for v in self.x_train.shape[1:])

    def __repr__(self):
        return (
            f"ImageDataset(name={self.name!r}, train={self.x_train.shape[0]}, test={self.x_test.shape[0]}, "
            f"input_shape={self.input_shape}, n_classes={self.n_classes})"
        )

    def split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Split ``x_train`` into training and validation indices, stratified by class.

        CNN-GA scores each architecture on data held out from training; the
        test set stays untouched until the final network. Stratifying keeps
        every class present in validation, which a plain random split of a
        small or imbalanced set does not promise.

        Parameters
        ----------
        val_fraction:
            Share of each class that goes to validation, in ``(0, 1)``. A class
            of ``n >= 2`` samples gives ``round(val_fraction * n)`` of them,
            but at least 1 and at most ``n - 1`` (so it is also trained on);
            a class of one sample stays in training.
        seed:
            Seeds a private :class:`torch.Generator`; the global RNG is neither
            read nor advanced, so the split is the same whatever ran before.

        Returns
        -------
        train_idx, val_idx : torch.Tensor
            Sorted int64 index tensors into ``x_train``, disjoint, together
            covering every index.
        """
        fraction = _check_fraction(val_fraction, self.name)
        if not (is_int(seed) or isinstance(seed, np.integer)):
            raise DataError(f"{self.name}: split seed must be an integer, got {seed!r}")
        generator = torch.Generator().manual_seed(int(seed))
        train_parts, val_parts = [], []
        for label in range(self.n_classes):
            members = torch.nonzero(self.y_train == label, as_tuple=True)[0]
            members = members[torch.randperm(members.numel(), generator=generator)]
            n_val = _validation_count(members.numel(), fraction)
            val_parts.append(members[:n_val])
            train_parts.append(members[n_val:])
        train_idx = torch.sort(torch.cat(train_parts)).values
        val_idx = torch.sort(torch.cat(val_parts)).values
        return train_idx, val_idx

    def check_fits(self, input_shape, n_classes: int):
        """Raise :class:`DataError` unless a network for ``input_shape`` and ``n_classes`` fits this data.

        Call it before a search starts, with the search space's values: a
        mismatch found here costs nothing; found in the first evaluation it
        costs a worker pool start-up and a confusing shape error from torch.
        """
        problems = []
        expected = tuple(input_shape)
        if expected != self.input_shape:
            problems.append(f"its {self.items} have shape {self.input_shape} but the network expects {expected}")
        if n_classes != self.n_classes:
            problems.append(f"it has {self.n_classes} classes but the network has {n_classes} outputs")
        if problems:
            raise DataError(
                f"dataset {self.name!r} does not fit the search space: " + "; ".join(problems) + ". "
                "Build the search space from the data: input_shape=dataset.input_shape, "
                "n_classes=dataset.n_classes"
            )


def _check_classes_and_labels(dataset):
    """Normalise ``dataset.classes`` and check every label lies in ``[0, n_classes)``."""
    object.__setattr__(dataset, "classes", _check_classes(dataset.classes, dataset.name))
    for split in ("train", "test"):
        _check_label_range(getattr(dataset, f"y_{split}"), f"y_{split}", len(dataset.classes), dataset.name)


def _check_tensor(dataset, field, dtype, ndim, layout):
    value = getattr(dataset, field)
    if not isinstance(value, torch.Tensor):
        raise DataError(
            f"{dataset.name}: {field} must be a torch.Tensor, got {type(value).__name__}; "
            "build datasets from numpy arrays with deap_cnn.training.datasets.from_arrays(), which converts them"
        )
    if value.dtype != dtype or value.ndim != ndim:
        raise DataError(
            f"{dataset.name}: {field} must be a {dtype} tensor of shape {layout}, got {value.dtype} "
            f"of shape {tuple(value.shape)}; from_arrays() converts other dtypes and layouts"
        )
    return value


def _check_classes(classes, name):
    if isinstance(classes, str) or not hasattr(classes, "__iter__"):
        raise DataError(f"{name}: classes must be a sequence of class names, got {classes!r}")
    classes = tuple(classes)
    bad = [c for c in classes if not isinstance(c, str)]
    if bad:
        raise DataError(f"{name}: class names must be strings, got {bad[0]!r}; pass e.g. tuple(map(str, names))")
    if len(classes) < 2:
        raise DataError(
            f"{name}: n_classes must be at least 2, got {len(classes)} ({classes!r}); "
            "classification needs two classes or more: check the labels and the class names"
        )
    if len(set(classes)) != len(classes):
        duplicate = next(c for c in classes if classes.count(c) > 1)
        raise DataError(f"{name}: class name {duplicate!r} appears more than once; class names must be unique")
    return classes


def _check_label_range(labels, field, n_classes, name):
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= n_classes:
        culprit = low if low < 0 else high
        raise DataError(
            f"{name}: labels out of range: {field} holds label {culprit}, outside [0, {n_classes}) "
            f"for {n_classes} classes; relabel to 0..{n_classes - 1} or pass one class name per label"
        )


def _check_fraction(val_fraction, name):
    valid = isinstance(val_fraction, (int, float, np.floating)) and not isinstance(val_fraction, bool)
    if not valid or not 0 < val_fraction < 1:
        raise DataError(
            f"{name}: val_fraction must be a number strictly between 0 and 1, got {val_fraction!r}; "
            "e.g. 0.1 holds out a tenth of each class for validation"
        )
    return float(val_fraction)


def _validation_count(count: int, fraction: float) -> int:
    if count < 2:
        return 0
    return min(max(round(fraction * count), 1), count - 1)


def from_arrays(x_train, y_train, x_test, y_test, classes=None, name: str = "arrays") -> ImageDataset:
    """An :class:`ImageDataset` from numpy arrays or torch tensors.

    Parameters
    ----------
    x_train, x_test:
        Images, in any of three layouts:

        * ``(N, H, W)``: grayscale, given one channel;
        * ``(N, H, W, C)``: channels-last (numpy, PIL and torchvision's CIFAR);
        * ``(N, C, H, W)``: channels-first (torch).

        A 4-d array is read as channels-last when its last dimension is 1, 3
        or 4 and its second is none of those; otherwise as channels-first.
        (Images of 1, 3 or 4 pixels in height are the only ones this rule
        misreads; pass them channels-first with C not in the last dimension.)

        uint8 values are kept. Floats whose maximum is at most 1.0 are taken
        as ``[0, 1]`` intensities and scaled by 255; other floats and integers
        must lie in ``[0, 255]``. Values are rounded to the nearest integer.
    y_train, y_test:
        Integer labels, shape ``(N,)`` or ``(N, 1)``. Float labels are accepted
        when they are whole numbers.
    classes:
        Class names in label order. Default: ``"0"``, ``"1"``, ... up to the
        largest label found in either set.
    name:
        A label for messages.
    """
    images = {
        "x_train": _images_to_nchw(x_train, "x_train", name),
        "x_test": _images_to_nchw(x_test, "x_test", name),
    }
    labels, classes = _labels_and_classes(y_train, y_test, classes, name)
    tensors = {key: torch.from_numpy(value) for key, value in {**images, **labels}.items()}
    return ImageDataset(classes=classes, name=name, **tensors)


def _labels_and_classes(y_train, y_test, classes, name):
    """Both label arrays as int64 and the class names (given, or ``"0"``, ``"1"``, ... up to the largest label)."""
    labels = {
        "y_train": _labels_to_int64(y_train, "y_train", name),
        "y_test": _labels_to_int64(y_test, "y_test", name),
    }
    if classes is None:
        return labels, _default_classes(labels.values())
    return labels, tuple(_class_name(c) for c in classes)


def from_dict(data, name: str = "dict") -> ImageDataset:
    """An :class:`ImageDataset` from the CNN-GA dict form.

    ``data`` maps ``'x_train'``, ``'y_train'``, ``'x_test'`` and ``'y_test'``
    to arrays (see :func:`from_arrays` for the layouts); an optional
    ``'classes'`` entry names the classes.
    """
    missing = [key for key in ARRAY_KEYS if key not in data]
    if missing:
        present = sorted(str(key) for key in data)
        raise DataError(
            f"{name}: missing key {missing[0]!r} (all missing: {missing}); the dict form needs "
            f"{list(ARRAY_KEYS)}, got keys {present}"
        )
    classes = data["classes"] if "classes" in data else None
    return from_arrays(*(data[key] for key in ARRAY_KEYS), classes=classes, name=name)


def _to_numpy(value, field, name):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: {field} cannot be read as an array ({exc}); pass a numpy array or tensor") from exc
    if array.dtype == object:
        raise DataError(
            f"{name}: {field} is an array of Python objects (ragged or mixed values?); "
            "pass a numeric array whose items all share one shape"
        )
    return array


def _images_to_nchw(value, field, name):
    array = _to_numpy(value, field, name)
    if array.ndim == 3:
        array = array[:, None, :, :]
    elif array.ndim == 4:
        if array.shape[-1] in _CHANNEL_COUNTS and array.shape[1] not in _CHANNEL_COUNTS:
            array = array.transpose(0, 3, 1, 2)
    else:
        raise DataError(
            f"{name}: wrong ndim for {field}: images must be 3-d (N, H, W) or 4-d (N, H, W, C) / "
            f"(N, C, H, W), got {array.ndim}-d of shape {array.shape}; a single image needs a leading "
            "batch dimension (x[None])"
        )
    return _as_uint8(array, field, name)


def _as_uint8(array, field, name):
    if array.dtype == np.uint8:
        pass
    elif array.dtype.kind in "fiu":
        array = _scaled_to_bytes(array, field, name)
    else:
        raise DataError(
            f"{name}: {field} has dtype {array.dtype}; images must be uint8, integers in [0, 255] "
            "or floats (in [0, 1] or [0, 255])"
        )
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:
        array = array.copy()  # torch wants writable memory
    return array


def _scaled_to_bytes(array, field, name):
    if array.size == 0:
        return array.astype(np.uint8)
    if array.dtype.kind == "f":
        if np.isnan(array).any():
            raise DataError(f"{name}: {field} holds NaN values; clean or drop those images before searching")
        if np.isinf(array).any():
            raise DataError(f"{name}: {field} holds infinite values; clean or drop those images before searching")
        if array.max() <= 1.0:
            array = array * 255.0
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise DataError(
            f"{name}: {field} values span [{low}, {high}], outside [0, 255]; "
            "rescale to [0, 255] (or floats to [0, 1]) before loading: normalisation happens later, per batch"
        )
    if array.dtype.kind == "f":
        array = np.rint(array)
    return array.astype(np.uint8)


def _labels_to_int64(value, field, name):
    array = _to_numpy(value, field, name)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DataError(
            f"{name}: wrong ndim for {field}: labels must have shape (N,) or (N, 1), got {array.shape}; "
            "one-hot labels need argmax(axis=1) first"
        )
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise DataError(f"{name}: {field} holds NaN or infinite labels; every label must be a class index")
        if (array != np.floor(array)).any():
            bad = array[array != np.floor(array)][0]
            raise DataError(f"{name}: {field} holds label {bad}, not a whole number; labels must be class indices")
    elif array.dtype.kind not in "iu":
        raise DataError(f"{name}: {field} has dtype {array.dtype}; labels must be integers (class indices)")
    return np.ascontiguousarray(array.astype(np.int64))


def _default_classes(label_arrays):
    largest = max((int(a.max()) for a in label_arrays if a.size), default=-1)
    return tuple(str(i) for i in range(largest + 1))


def _class_name(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


@dataclass(frozen=True, eq=False)
class VectorDataset:
    """A train and a test set of feature vectors, for fully connected networks.

    The vector counterpart of :class:`ImageDataset`, with the same interface
    (``split``, ``check_fits``, ``input_shape``, ``n_classes``), so the
    evaluator trains on either.

    Parameters
    ----------
    x_train, x_test:
        float32 tensors of shape ``(N, F)`` and ``(M, F)``, finite. Features
        are standardised later, on the training device, with the training
        split's statistics; pass them unscaled.
    y_train, y_test:
        int64 tensors of shape ``(N,)`` and ``(M,)``, labels in ``[0, n_classes)``.
    classes:
        One name per class, in label order.
    name:
        A label for messages and results.

    Notes
    -----
    Build one with :func:`from_vectors`, which converts arrays and dtypes.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple
    name: str = "vectors"

    def __post_init__(self):
        for split in ("train", "test"):
            vectors = _check_tensor(self, f"x_{split}", torch.float32, 2, "(N, F)")
            labels = _check_tensor(self, f"y_{split}", torch.int64, 1, "(N,)")
            if vectors.shape[0] != labels.shape[0]:
                raise DataError(
                    f"{self.name}: mismatched lengths in the {split} set: {vectors.shape[0]} vectors but "
                    f"{labels.shape[0]} labels; pass exactly one label per vector"
                )
            if vectors.shape[0] == 0 or vectors.shape[1] == 0:
                raise DataError(
                    f"{self.name}: x_{split} has shape {tuple(vectors.shape)}; a search needs at least one "
                    "vector of at least one feature to train on and to test on"
                )
            if not torch.isfinite(vectors).all():
                raise DataError(f"{self.name}: x_{split} holds NaN or infinite values; clean or drop those rows")
            object.__setattr__(self, f"x_{split}", vectors.contiguous())
            object.__setattr__(self, f"y_{split}", labels.contiguous())
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise DataError(
                f"{self.name}: train vectors have {self.x_train.shape[1]} features but test vectors "
                f"{self.x_test.shape[1]}; both sets need the same features"
            )
        _check_classes_and_labels(self)

    items = "vectors"
    n_classes = ImageDataset.n_classes
    # Neither depends on the inputs' layout: a stratified split by class, a shape and class-count check.
    split = ImageDataset.split
    check_fits = ImageDataset.check_fits

    @property
    def input_shape(self) -> tuple:
        """``(F,)``: what the fully connected family's space takes."""
        return (int(self.x_train.shape[1]),)

    def __repr__(self):
        return (
            f"VectorDataset(name={self.name!r}, train={self.x_train.shape[0]}, test={self.x_test.shape[0]}, "
            f"input_shape={self.input_shape}, n_classes={self.n_classes})"
        )


def from_vectors(x_train, y_train, x_test, y_test, classes=None, name: str = "vectors") -> VectorDataset:
    """A :class:`VectorDataset` from ``(N, F)`` numeric arrays or tensors (converted to float32).

    Labels as for :func:`from_arrays`; ``classes`` defaults to ``"0"``, ``"1"``, ...
    """
    vectors = {
        "x_train": _vectors_to_float32(x_train, "x_train", name),
        "x_test": _vectors_to_float32(x_test, "x_test", name),
    }
    labels, classes = _labels_and_classes(y_train, y_test, classes, name)
    tensors = {key: torch.from_numpy(value) for key, value in {**vectors, **labels}.items()}
    return VectorDataset(classes=classes, name=name, **tensors)


def _vectors_to_float32(value, field, name):
    array = _to_numpy(value, field, name)
    if array.ndim != 2:
        raise DataError(
            f"{name}: wrong ndim for {field}: feature vectors must be 2-d (N, F), got {array.ndim}-d of shape "
            f"{array.shape}; flatten each sample first (x.reshape(len(x), -1))"
        )
    if array.dtype.kind not in "fiub":
        raise DataError(f"{name}: {field} has dtype {array.dtype}; features must be numbers")
    return np.ascontiguousarray(array, dtype=np.float32)
