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

:class:`DataSource` is the small, picklable description of where data lives
(``DataSource("cifar10", root="data")``); SCOOP workers receive it instead
of the tensors and each loads the data once per process (:meth:`DataSource.load`
caches).

Feature vectors, for fully connected networks, have their own in-memory
form, :class:`VectorDataset` (float32 ``(N, F)``), with the same interface;
:func:`from_vectors` builds one from arrays and :func:`load_digits` reads
scikit-learn's bundled digits (``DataSource("digits")``).
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DataError",
    "ImageDataset",
    "VectorDataset",
    "DataSource",
    "from_arrays",
    "from_dict",
    "load_npz",
    "load_idx_folder",
    "load_torchvision",
    "load_image_folder",
    "load_sample",
    "from_vectors",
    "load_digits",
    "load_data",
    "clear_cache",
    "FASHION_MNIST_CLASSES",
    "TORCHVISION_NAMES",
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

#: Dataset names :func:`load_torchvision` knows.
TORCHVISION_NAMES = ("cifar10", "cifar100", "mnist", "fashion-mnist")

#: The four files of an MNIST-style IDX folder, each may also end in ``.gz``.
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, H, W)
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)

#: Suffixes :func:`load_image_folder` reads (compared lower-case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

#: Keys of the CNN-GA dict form and of ``.npz`` files.
ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")

SAMPLE_FILE = "fashion_mnist_sample.npz"
SAMPLE_REBUILD = "python benchmarks/make_sample.py"

_CHANNEL_COUNTS = (1, 3, 4)
_GRAY_MODES = ("1", "L", "I", "I;16", "F")


class DataError(ValueError):
    """The data cannot serve a search; the message names the problem, the value and the fix."""


# ---------------------------------------------------------------------------
# The in-memory form
# ---------------------------------------------------------------------------


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
        (train_idx, val_idx):
            Sorted int64 index tensors into ``x_train``, disjoint, together
            covering every index.
        """
        fraction = _check_fraction(val_fraction, self.name)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
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
            "build datasets from numpy arrays with deap_cnn.data.from_arrays(), which converts them"
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


# ---------------------------------------------------------------------------
# Arrays and dicts
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Files: npz, IDX
# ---------------------------------------------------------------------------


def load_npz(path) -> ImageDataset:
    """Load a ``.npz`` holding ``x_train``, ``y_train``, ``x_test``, ``y_test`` (and optionally ``classes``).

    Written e.g. by ``np.savez_compressed(path, x_train=..., ...)``; layouts as
    for :func:`from_arrays`. Pickled objects are refused (``allow_pickle=False``):
    ``classes`` must be a plain string array.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"no such .npz file: {str(path)!r}; check the path (relative paths start at {os.getcwd()!r})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zlib.error) as exc:
        raise DataError(f"cannot read {str(path)!r} as a .npz archive ({exc}); write it with np.savez") from exc
    return from_dict(data, name=path.stem)


def load_idx_folder(path, classes=None, name: str | None = None) -> ImageDataset:
    """Load an MNIST-style folder of four IDX files, gzipped or not.

    The folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each possibly
    with a ``.gz`` suffix (as the MNIST and Fashion-MNIST sites, torchvision's
    ``raw`` folders and Debian's ``dataset-fashion-mnist`` ship them).

    Class names: Fashion-MNIST's when the folder's path mentions "fashion"
    (case-insensitive), the digits "0" to "9" otherwise; ``classes``
    overrides both.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"IDX folder {str(folder)!r} does not exist; pass the folder that holds the four IDX files")
    files = _find_idx_files(folder)
    missing = [f"{IDX_FILES[key]}[.gz]" for key, found in files.items() if found is None]
    if missing:
        present = sorted(p.name for p in folder.iterdir())[:10]
        raise DataError(
            f"IDX folder {str(folder)!r} lacks {missing}; it holds {present}. "
            f"An IDX folder needs all of {[f + '[.gz]' for f in IDX_FILES.values()]}"
        )
    arrays = {}
    for key, file in files.items():
        magic = IDX_IMAGES_MAGIC if key.startswith("x") else IDX_LABELS_MAGIC
        arrays[key] = _read_idx(file, magic)
    if classes is None:
        classes = FASHION_MNIST_CLASSES if "fashion" in str(folder.resolve()).lower() else DIGIT_CLASSES
    return from_arrays(*(arrays[key] for key in ARRAY_KEYS), classes=classes, name=name or folder.name)


def _find_idx_files(folder: Path) -> dict:
    """``{key: path or None}``; an uncompressed file wins over its ``.gz`` (no inflating to do)."""
    found = {}
    for key, base in IDX_FILES.items():
        candidates = [folder / base, folder / f"{base}.gz"]
        found[key] = next((c for c in candidates if c.is_file()), None)
    return found


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parse one IDX file: a big-endian magic number, the dimension sizes, then the bytes."""
    raw = _read_maybe_gzip(path)
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic != expected_magic:
        kind = "images" if expected_magic == IDX_IMAGES_MAGIC else "labels"
        shown = "none (file shorter than 4 bytes)" if magic is None else f"0x{magic:08x}"
        raise DataError(
            f"{str(path)!r} has the wrong magic number for IDX {kind}: expected 0x{expected_magic:08x}, "
            f"got {shown}; the file is not an IDX {kind} file (swapped images and labels, or a damaged file?)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + math.prod(dims):
        raise DataError(
            f"{str(path)!r} declares shape {dims} ({math.prod(dims)} bytes of data) but holds "
            f"{len(raw) - header} bytes; the file is truncated or damaged: fetch it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, inflated when they start with the gzip signature (whatever the suffix)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {str(path)!r} ({exc}); the file is damaged: fetch it again") from exc
    return raw


# ---------------------------------------------------------------------------
# torchvision's datasets and on-disk layouts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _TorchvisionSpec:
    class_name: str  # in torchvision.datasets
    folder: str  # under root, torchvision's layout
    train_files: tuple = ()
    test_files: tuple = ()
    meta_file: str = ""
    label_key: str = ""
    names_key: str = ""
    classes: tuple = ()


_TORCHVISION = {
    "cifar10": _TorchvisionSpec(
        "CIFAR10",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "batches.meta",
        "labels",
        "label_names",
    ),
    "cifar100": _TorchvisionSpec(
        "CIFAR100", "cifar-100-python", ("train",), ("test",), "meta", "fine_labels", "fine_label_names"
    ),
    "mnist": _TorchvisionSpec("MNIST", "MNIST/raw", classes=DIGIT_CLASSES),
    "fashion-mnist": _TorchvisionSpec("FashionMNIST", "FashionMNIST/raw", classes=FASHION_MNIST_CLASSES),
}


def _torchvision_key(name) -> str | None:
    if not isinstance(name, str):
        return None
    key = name.strip().lower().replace("_", "-")
    return {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar-100": "cifar100"}.get(key, key)


def load_torchvision(name: str, root, download: bool = False) -> ImageDataset:
    """Load CIFAR-10, CIFAR-100, MNIST or Fashion-MNIST from torchvision's on-disk layout.

    Parameters
    ----------
    name:
        One of :data:`TORCHVISION_NAMES`.
    root:
        The folder torchvision's ``root`` argument would get: it holds
        ``cifar-10-batches-py/``, ``cifar-100-python/``, ``MNIST/raw/`` or
        ``FashionMNIST/raw/``. ``root`` may also be that inner folder itself
        (e.g. an IDX folder such as ``/usr/share/datasets/fashion-mnist``).
    download:
        Fetch missing files with torchvision (needs internet access).

    Files already on disk are read here directly (CIFAR's pickled batches,
    MNIST's IDX files) rather than through torchvision's classes: torchvision
    first checks each file's MD5 against the published archives, which costs
    seconds per load and refuses any re-packed or cut-down copy. The arrays
    are the same torchvision's ``.data``/``.targets`` hold; no per-sample
    transforms run. CIFAR batches are pickles: load only files you trust.
    """
    key = _torchvision_key(name)
    if key not in _TORCHVISION:
        raise DataError(f"unknown torchvision dataset {name!r}; choose one of {list(TORCHVISION_NAMES)}")
    spec = _TORCHVISION[key]
    root = Path(root).expanduser()
    for folder in (root / spec.folder, root):
        if _holds(folder, spec):
            return _read_local(folder, spec, key)
    if not download:
        raise DataError(
            f"{key} not found under {str(root)!r} (looked for {str(root / spec.folder)!r}) and download is off. "
            f"Either pass a folder that holds the data (--data-dir DIR, i.e. DataSource({key!r}, root=DIR)), "
            "or run with download on (download=True) on a machine with internet access"
        )
    return _download(key, spec, root)


def _holds(folder: Path, spec: _TorchvisionSpec) -> bool:
    if not folder.is_dir():
        return False
    if spec.meta_file:
        names = spec.train_files + spec.test_files + (spec.meta_file,)
        return all((folder / n).is_file() for n in names)
    return all(found is not None for found in _find_idx_files(folder).values())


def _read_local(folder: Path, spec: _TorchvisionSpec, key: str) -> ImageDataset:
    if not spec.meta_file:
        return load_idx_folder(folder, classes=spec.classes, name=key)
    x_train, y_train = _read_cifar_batches(folder, spec.train_files, spec.label_key)
    x_test, y_test = _read_cifar_batches(folder, spec.test_files, spec.label_key)
    meta = _read_cifar_pickle(folder / spec.meta_file)
    if spec.names_key not in meta:
        raise DataError(
            f"{str(folder / spec.meta_file)!r} has no {spec.names_key!r} entry (keys: {sorted(meta)}); "
            "the file is not a CIFAR metadata file: fetch the dataset again"
        )
    classes = tuple(_class_name(c) for c in meta[spec.names_key])
    return from_arrays(x_train, y_train, x_test, y_test, classes=classes, name=key)


def _read_cifar_batches(folder: Path, files, label_key):
    images, labels = [], []
    for file_name in files:
        path = folder / file_name
        entry = _read_cifar_pickle(path)
        if "data" not in entry or label_key not in entry:
            raise DataError(
                f"{str(path)!r} lacks 'data' or {label_key!r} (keys: {sorted(entry)}); "
                "the file is not a CIFAR batch: fetch the dataset again"
            )
        data = np.asarray(entry["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(
                f"{str(path)!r}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} of shape "
                f"{data.shape}; the file is not a CIFAR batch: fetch the dataset again"
            )
        images.append(data.reshape(-1, 3, 32, 32))  # CIFAR rows are channel planes: already (C, H, W)
        labels.append(np.asarray(entry[label_key], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _read_cifar_pickle(path: Path) -> dict:
    """A CIFAR pickle as a dict with ``str`` keys.

    The published files are Python 2 pickles; ``latin1`` decoding (as
    torchvision uses) reads their numpy arrays. Keys come back as ``str``
    from those and as ``bytes`` from files re-pickled by Python 3, so both
    are normalised to ``str``.
    """
    try:
        with open(path, "rb") as handle:
            entry = pickle.load(handle, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError) as exc:
        raise DataError(f"cannot unpickle {str(path)!r} ({exc}); the file is damaged: fetch it again") from exc
    if not isinstance(entry, dict):
        raise DataError(f"{str(path)!r} holds a {type(entry).__name__}, not a CIFAR dict: fetch the dataset again")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in entry.items()}


def _download(key: str, spec: _TorchvisionSpec, root: Path) -> ImageDataset:
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, spec.class_name)
    try:
        train = dataset_class(str(root), train=True, download=True)
        test = dataset_class(str(root), train=False, download=True)
    except Exception as exc:  # torchvision raises URLError, RuntimeError, OSError, HTTP errors ...
        raise DataError(
            f"downloading {key} into {str(root)!r} failed ({type(exc).__name__}: {exc}). "
            "Either pass a folder that already holds the data (--data-dir DIR), "
            "or download on a machine with internet access and copy the folder over"
        ) from exc
    classes = spec.classes or tuple(train.classes)
    return from_arrays(train.data, train.targets, test.data, test.targets, classes=classes, name=key)


# ---------------------------------------------------------------------------
# Folders of image files
# ---------------------------------------------------------------------------


def load_image_folder(path) -> ImageDataset:
    """Load ``train/<class>/*.png|jpg|jpeg|bmp`` and ``test/<class>/...``.

    Class names are the sorted sub-folder names of ``train``; every class
    folder under ``test`` must also be one of them (a test set may lack a
    class). All images must share one size. When every image is grayscale
    they load as one channel, otherwise all convert to RGB, so a few gray
    images in a colour set do not break the batch shape.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {str(root)!r} does not exist; pass a folder holding train/ and test/")
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise DataError(
                f"image folder {str(root)!r} has no {split}/ sub-folder; lay it out as "
                "train/<class>/<image> and test/<class>/<image>"
            )
    classes = tuple(sorted(p.name for p in (root / "train").iterdir() if p.is_dir()))
    listed = {split: _list_images(root / split, classes) for split in ("train", "test")}
    files = [file for split in listed.values() for file, _ in split]
    headers = {}
    for file in files:
        try:
            with Image.open(file) as image:
                headers[file] = (image.mode, image.size)
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"cannot read image {str(file)!r} ({exc}); remove or replace the file") from exc
    mode = "L" if all(m in _GRAY_MODES for m, _ in headers.values()) else "RGB"
    size = headers[files[0]][1]
    for file in files:
        if headers[file][1] != size:
            raise DataError(
                f"images differ in size: {str(file)!r} is {headers[file][1][0]}x{headers[file][1][1]} but "
                f"{str(files[0])!r} is {size[0]}x{size[1]} (width x height); resize all images to one size"
            )
    arrays = {}
    for split, entries in listed.items():
        arrays[f"x_{split}"] = np.stack([_read_image(Image, file, mode) for file, _ in entries])
        arrays[f"y_{split}"] = np.array([label for _, label in entries], dtype=np.int64)
    return from_arrays(*(arrays[key] for key in ARRAY_KEYS), classes=classes, name=root.name)


def _list_images(split_dir: Path, classes) -> list:
    """``[(file, label), ...]`` in a stable order; raises when there is nothing to load."""
    unknown = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and p.name not in classes)
    if unknown:
        raise DataError(
            f"{str(split_dir)!r} has class folders {unknown} that train/ lacks; "
            f"test classes must be among the train classes {list(classes)}"
        )
    entries = []
    for label, name in enumerate(classes):
        class_dir = split_dir / name
        if class_dir.is_dir():
            files = sorted(p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            entries += [(file, label) for file in files]
    if not entries:
        raise DataError(
            f"no images in {str(split_dir)!r}: expected files ending in {list(IMAGE_SUFFIXES)} inside "
            "one sub-folder per class (e.g. train/cat/001.png)"
        )
    return entries


def _read_image(image_module, file: Path, mode: str) -> np.ndarray:
    with image_module.open(file) as image:
        array = np.asarray(image.convert(mode), dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array  # (H, W, C): from_arrays reads it channels-last


# ---------------------------------------------------------------------------
# The bundled sample
# ---------------------------------------------------------------------------


def load_sample() -> ImageDataset:
    """The bundled Fashion-MNIST sample: 3000 training and 1000 test images, 1x28x28, 10 classes.

    Small enough to ship in the package and to search on a laptop, so a
    first run needs neither a download nor a data folder. See
    ``deap_cnn/sample_data/README.md`` for its origin and how to rebuild it.
    """
    resource = resources.files("deap_cnn").joinpath("sample_data", SAMPLE_FILE)
    if not resource.is_file():
        raise DataError(
            f"the bundled sample {SAMPLE_FILE} is missing from the installed package; "
            f"rebuild it with `{SAMPLE_REBUILD}` or reinstall deap_cnn"
        )
    with resources.as_file(resource) as path:
        dataset = load_npz(path)
    return ImageDataset(
        dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test, dataset.classes, "fashion-mnist-sample"
    )


# ---------------------------------------------------------------------------
# Feature vectors
# ---------------------------------------------------------------------------

#: Name of scikit-learn's bundled digits for :class:`DataSource` and :func:`load_data`.
DIGITS_NAME = "digits"
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


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


def load_digits(test_fraction: float = DIGITS_TEST_FRACTION, seed: int = DIGITS_SPLIT_SEED) -> VectorDataset:
    """scikit-learn's bundled handwritten digits: 1797 vectors of 64 features (8x8 pixels, 0-16), 10 classes.

    Bundled with scikit-learn, so nothing is downloaded (``pip install
    scikit-learn``). The test set is a seeded split stratified by class:
    ``test_fraction`` of each class (default 0.2: 1438 training and 359 test vectors).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as exc:
        raise DataError(
            "the digits data set comes with scikit-learn, which is not installed; `pip install scikit-learn`"
        ) from exc
    fraction = _check_fraction(test_fraction, DIGITS_NAME)
    bunch = sklearn_digits()
    x, y = bunch.data, bunch.target.astype(np.int64)
    generator = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = generator.permutation(np.flatnonzero(y == label))
        test[members[: _validation_count(len(members), fraction)]] = True
    classes = tuple(str(c) for c in bunch.target_names)
    return from_vectors(x[~test], y[~test], x[test], y[test], classes=classes, name=DIGITS_NAME)


# ---------------------------------------------------------------------------
# Describing a source, loading once per process
# ---------------------------------------------------------------------------

_CACHE: dict = {}


@dataclass(frozen=True)
class DataSource:
    """Where a search's data comes from: small, hashable and picklable.

    Send this to evaluation workers rather than the tensors: each worker
    calls :meth:`load` and pays for reading the data once per process.

    Parameters
    ----------
    name:
        ``"sample"`` (the bundled Fashion-MNIST sample); ``"digits"``
        (scikit-learn's bundled digits, as feature vectors); one of
        ``"cifar10"``, ``"cifar100"``, ``"mnist"``, ``"fashion-mnist"``
        (torchvision's datasets, read from ``root``); or a path: a ``.npz``
        file, a folder of IDX files, or a folder with ``train/`` and
        ``test/`` sub-folders of images.
    root:
        Folder of torchvision's datasets (default ``"data"``); ignored for paths.
    download:
        Let torchvision fetch missing files (needs internet access).
    """

    name: str = "sample"
    root: str | None = None
    download: bool = False

    def __post_init__(self):
        if not isinstance(self.name, (str, os.PathLike)) or not str(self.name).strip():
            raise DataError(f"DataSource name must be a non-empty string, got {self.name!r}; {_ACCEPTED}")

    def load(self) -> ImageDataset | VectorDataset:
        """The dataset, read on the first call in this process and cached after."""
        if self not in _CACHE:
            _CACHE[self] = self._read()
        return _CACHE[self]

    def _read(self) -> ImageDataset | VectorDataset:
        name = str(self.name)
        key = _torchvision_key(name)
        if key == "sample":
            return load_sample()
        if key == DIGITS_NAME:
            return load_digits()
        if key in _TORCHVISION:
            return load_torchvision(key, self.root or "data", self.download)
        path = Path(name).expanduser()
        if name.lower().endswith(".npz"):
            return load_npz(path)
        if path.is_dir():
            if all(found is not None for found in _find_idx_files(path).values()):
                return load_idx_folder(path)
            if (path / "train").is_dir() and (path / "test").is_dir():
                return load_image_folder(path)
            raise DataError(
                f"folder {name!r} holds neither the four IDX files nor train/ and test/ sub-folders; {_ACCEPTED}"
            )
        raise DataError(f"unknown data source {name!r}: not a dataset name nor an existing path; {_ACCEPTED}")


_ACCEPTED = (
    "accepted: 'sample', 'digits', " + ", ".join(repr(n) for n in TORCHVISION_NAMES) + ", a .npz file, a folder of "
    "IDX files (train-images-idx3-ubyte ...) or a folder with train/<class>/ and test/<class>/ images"
)


def load_data(source) -> ImageDataset | VectorDataset:
    """Whatever describes a dataset, as a dataset.

    ``source`` is an :class:`ImageDataset` or :class:`VectorDataset` (returned
    as is), a :class:`DataSource`, or a string or path (read as
    ``DataSource(name=source)``).
    """
    if isinstance(source, (ImageDataset, VectorDataset)):
        return source
    if isinstance(source, DataSource):
        return source.load()
    if isinstance(source, (str, os.PathLike)):
        return DataSource(name=str(source)).load()
    raise DataError(
        f"cannot load data from a {type(source).__name__} ({source!r}); pass an ImageDataset, a VectorDataset, "
        f"a DataSource or a name or path; {_ACCEPTED}"
    )


def clear_cache():
    """Forget every dataset :meth:`DataSource.load` has cached in this process (frees their memory)."""
    _CACHE.clear()
