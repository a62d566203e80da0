"""Where data comes from: the picklable DataSource workers receive, and the per-process data cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .datasets import DataError, ImageDataset, VectorDataset
from .loaders import (
    _CACHE,
    _TORCHVISION,
    DIGITS_NAME,
    TORCHVISION_NAMES,
    _find_idx_files,
    _torchvision_key,
    load_digits,
    load_idx_folder,
    load_image_folder,
    load_npz,
    load_sample,
    load_torchvision,
)

__all__ = ["DataSource", "load_data", "clear_cache"]


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
