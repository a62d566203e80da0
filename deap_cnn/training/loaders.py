"""Readers of every data source: npz, IDX folders, torchvision layouts, image folders, the sample, digits."""

from __future__ import annotations

import gzip
import math
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .datasets import (
    _GRAY_MODES,
    ARRAY_KEYS,
    DIGIT_CLASSES,
    FASHION_MNIST_CLASSES,
    DataError,
    ImageDataset,
    VectorDataset,
    _check_fraction,
    _class_name,
    _validation_count,
    from_arrays,
    from_dict,
    from_vectors,
)

__all__ = [
    "TORCHVISION_NAMES",
    "load_npz",
    "load_idx_folder",
    "load_torchvision",
    "load_image_folder",
    "load_sample",
    "load_digits",
]

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


SAMPLE_FILE = "fashion_mnist_sample.npz"


#: A zip archive's first bytes (a file's local header; an empty archive starts with its end record).
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


#: A ``.npy`` file's first bytes (``np.save``).
NPY_MAGIC = b"\x93NUMPY"


#: What a ``.npz`` data file must be, for the errors that refuse one.
NPZ_EXPECTED = (
    "expected a zip archive of the arrays x_train, y_train, x_test and y_test (classes optional), "
    "as np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...) writes it"
)


SAMPLE_REBUILD = "python benchmarks/make_sample.py"


def load_npz(path) -> ImageDataset:
    """Load a ``.npz`` holding ``x_train``, ``y_train``, ``x_test``, ``y_test`` (and optionally ``classes``).

    Written e.g. by ``np.savez_compressed(path, x_train=..., ...)``; layouts as
    for :func:`from_arrays`. Pickled objects are refused (``allow_pickle=False``):
    ``classes`` must be a plain string array.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"no such .npz file: {str(path)!r}; check the path (relative paths start at {os.getcwd()!r})")
    found = _not_a_zip(path)
    if found is not None:  # np.load would try it as a pickle and speak of pickled data
        raise DataError(f"{str(path)!r} is not a numpy .npz archive: {found}; {NPZ_EXPECTED}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = {}
            for key in archive.files:
                try:
                    data[key] = archive[key]
                except ValueError as exc:
                    if "allow_pickle" not in str(exc):
                        raise
                    raise DataError(
                        f"{str(path)!r} holds {key} as an array of Python objects, which would load as a pickle "
                        "(refused: it could run code); save it as numbers (images, labels) or strings (classes), "
                        f"e.g. np.asarray({key}, dtype=...)"
                    ) from None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as exc:  # damaged or truncated
        raise DataError(
            f"{str(path)!r} is a damaged .npz archive ({exc}), truncated perhaps by an interrupted copy; "
            f"write it again: {NPZ_EXPECTED}"
        ) from exc
    return from_dict(data, name=path.stem)


def _not_a_zip(path: Path) -> str | None:
    """What ``path`` holds instead of a zip archive (every .npz is one), or ``None`` when it starts like one."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head.startswith(ZIP_MAGIC):
        return None
    if not head:
        return "the file is empty"
    if head.startswith(NPY_MAGIC):
        return "it holds a single array, as np.save writes one"
    text = head.decode("utf-8", errors="ignore")  # a character cut off at byte 64 is dropped
    if len(text.encode()) >= len(head) - 3 and all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"it holds text, starting {text[:32]!r}"
    return f"it starts with the bytes {head[:8]!r}, neither a zip archive's nor a numpy array's"


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

    Notes
    -----
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


#: Name of scikit-learn's bundled digits for :class:`~deap_cnn.training.sources.DataSource` and :func:`~deap_cnn.training.sources.load_data`.
DIGITS_NAME = "digits"


DIGITS_TEST_FRACTION = 0.2


DIGITS_SPLIT_SEED = 0


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


_CACHE: dict = {}
