"""Tests of deap_cnn.data: every source on small files written here, in the exact on-disk formats."""

from __future__ import annotations

import gzip
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from deap_cnn.training import sources as data
from deap_cnn.training.datasets import (
    FASHION_MNIST_CLASSES,
    DataError,
    ImageDataset,
    from_arrays,
    from_dict,
)
from deap_cnn.training.loaders import (
    load_idx_folder,
    load_image_folder,
    load_npz,
    load_sample,
    load_torchvision,
)
from deap_cnn.training.sources import DataSource, load_data

REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _empty_cache():
    data.clear_cache()
    yield
    data.clear_cache()


def random_images(n, shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def cycling_labels(n, n_classes):
    return np.arange(n, dtype=np.int64) % n_classes


def small_arrays(n_train=20, n_test=10, n_classes=4, shape=(8, 8)):
    return (
        random_images(n_train, shape, seed=1),
        cycling_labels(n_train, n_classes),
        random_images(n_test, shape, seed=2),
        cycling_labels(n_test, n_classes),
    )


def small_dataset(**kwargs):
    return from_arrays(*small_arrays(**kwargs))


# --- writers for the on-disk formats -----------------------------------------


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_folder(folder: Path, arrays, gz: bool):
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = arrays
    contents = {
        "train-images-idx3-ubyte": idx_bytes(x_train, 0x803),
        "train-labels-idx1-ubyte": idx_bytes(y_train, 0x801),
        "t10k-images-idx3-ubyte": idx_bytes(x_test, 0x803),
        "t10k-labels-idx1-ubyte": idx_bytes(y_test, 0x801),
    }
    for name, raw in contents.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return folder


def idx_arrays(n_train=30, n_test=10):
    return small_arrays(n_train, n_test, n_classes=10, shape=(28, 28))


def write_pickle(path: Path, obj):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle)


def cifar_rows(n, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_cifar10(root: Path, per_batch=4, n_test=6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rows, labels = [], []
    for i in range(1, 6):
        batch_rows = cifar_rows(per_batch, seed=i)
        batch_labels = [(i + j) % 10 for j in range(per_batch)]
        write_pickle(folder / f"data_batch_{i}", {b"batch_label": b"x", b"data": batch_rows, b"labels": batch_labels})
        rows.append(batch_rows)
        labels += batch_labels
    test_rows = cifar_rows(n_test, seed=9)
    test_labels = [j % 10 for j in range(n_test)]
    write_pickle(folder / "test_batch", {b"data": test_rows, b"labels": test_labels})
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    write_pickle(folder / "batches.meta", {b"label_names": names, b"num_cases_per_batch": per_batch})
    return np.concatenate(rows), np.array(labels), test_rows, np.array(test_labels)


def write_cifar100(root: Path, n_train=8, n_test=5):
    # str keys this time: what the published Python 2 pickles give under latin1 decoding
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    train_rows, test_rows = cifar_rows(n_train, 1), cifar_rows(n_test, 2)
    write_pickle(folder / "train", {"data": train_rows, "fine_labels": [99 - i for i in range(n_train)]})
    write_pickle(folder / "test", {"data": test_rows, "fine_labels": list(range(n_test))})
    write_pickle(folder / "meta", {"fine_label_names": [f"class{i}" for i in range(100)]})
    return train_rows, test_rows


def write_png(path: Path, array: np.ndarray):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# --- ImageDataset ------------------------------------------------------------


def test_dataset_properties_and_contiguity():
    x = torch.zeros(6, 28, 28, 3, dtype=torch.uint8).permute(0, 3, 1, 2)  # a non-contiguous view
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    dataset = ImageDataset(x, y, x[:3], y[:3], ("a", "b", "c"), name="toy")
    assert dataset.input_shape == (3, 28, 28)
    assert all(type(v) is int for v in dataset.input_shape)
    assert dataset.n_classes == 3
    assert dataset.x_train.is_contiguous()
    assert "toy" in repr(dataset)


def test_dataset_rejects_numpy_and_wrong_dtype():
    x, y = torch.zeros(4, 1, 5, 5, dtype=torch.uint8), torch.tensor([0, 1, 0, 1])
    with pytest.raises(DataError, match="must be a torch.Tensor.*from_arrays"):
        ImageDataset(x.numpy(), y, x, y, ("a", "b"))
    with pytest.raises(DataError, match="x_train must be a torch.uint8 tensor.*torch.float32"):
        ImageDataset(x.float(), y, x, y, ("a", "b"))
    with pytest.raises(DataError, match="y_test must be a torch.int64 tensor"):
        ImageDataset(x, y, x, y.int(), ("a", "b"))


def test_mismatched_lengths():
    x_train, y_train, x_test, y_test = small_arrays()
    with pytest.raises(DataError, match="mismatched lengths in the train set: 20 images but 19 labels"):
        from_arrays(x_train, y_train[:-1], x_test, y_test)


def test_labels_out_of_range():
    x_train, y_train, x_test, y_test = small_arrays(n_classes=4)
    with pytest.raises(DataError, match=r"labels out of range: y_test holds label 4, outside \[0, 4\)"):
        from_arrays(x_train, y_train, x_test, y_test + 1, classes=["a", "b", "c", "d"])
    with pytest.raises(DataError, match="labels out of range: y_train holds label -1"):
        from_arrays(x_train, y_train - 1, x_test, y_test)


def test_empty_set():
    x_train, y_train, x_test, y_test = small_arrays()
    with pytest.raises(DataError, match=r"empty test set \(0 images\)"):
        from_arrays(x_train, y_train, x_test[:0], y_test[:0], classes=["a", "b", "c", "d"])
    with pytest.raises(DataError, match="empty train set"):
        from_arrays(x_train[:0], y_train[:0], x_test, y_test)


def test_train_and_test_shapes_must_match():
    x_train, y_train, _, y_test = small_arrays()
    with pytest.raises(DataError, match=r"train images have shape \(1, 8, 8\) but test images \(1, 9, 9\)"):
        from_arrays(x_train, y_train, random_images(10, (9, 9)), y_test)


def test_fewer_than_two_classes():
    x_train, _, x_test, _ = small_arrays()
    with pytest.raises(DataError, match="n_classes must be at least 2, got 1"):
        from_arrays(x_train, np.zeros(20, int), x_test, np.zeros(10, int))


def test_duplicate_class_names():
    with pytest.raises(DataError, match="'b' appears more than once"):
        from_arrays(*small_arrays(n_classes=3), classes=["a", "b", "b"])


def test_check_fits():
    dataset = small_dataset()  # (1, 8, 8), 4 classes
    dataset.check_fits((1, 8, 8), 4)
    dataset.check_fits([1, 8, 8], 4)
    expected = r"shape \(1, 8, 8\) but the network expects \(3, 32, 32\).*dataset.input_shape"
    with pytest.raises(DataError, match=expected):
        dataset.check_fits((3, 32, 32), 4)
    with pytest.raises(DataError, match="4 classes but the network has 10 outputs.*n_classes=dataset.n_classes"):
        dataset.check_fits((1, 8, 8), 10)


def test_check_fits_accepts_a_search_space_built_from_the_data():
    from deap_cnn import SearchSpace

    dataset = small_dataset()
    space = SearchSpace(input_shape=dataset.input_shape, n_classes=dataset.n_classes)
    dataset.check_fits(space.input_shape, space.n_classes)
    with pytest.raises(DataError):
        dataset.check_fits(SearchSpace().input_shape, SearchSpace().n_classes)


# --- split -------------------------------------------------------------------


def imbalanced_dataset():
    counts = [50, 30, 7, 2, 1]
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(3).shuffle(labels)
    x = random_images(labels.size, (4, 4))
    return from_arrays(x, labels, x[:5], np.arange(5)), counts


def test_split_is_disjoint_covering_and_sorted():
    dataset, _ = imbalanced_dataset()
    train_idx, val_idx = dataset.split(0.2, seed=1)
    assert train_idx.dtype == val_idx.dtype == torch.int64
    assert set(train_idx.tolist()).isdisjoint(val_idx.tolist())
    assert sorted(train_idx.tolist() + val_idx.tolist()) == list(range(len(dataset.y_train)))
    assert torch.equal(train_idx, train_idx.sort().values)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_split_is_stratified(fraction):
    dataset, counts = imbalanced_dataset()
    _, val_idx = dataset.split(fraction, seed=0)
    val_counts = torch.bincount(dataset.y_train[val_idx], minlength=len(counts)).tolist()
    for label, (count, in_val) in enumerate(zip(counts, val_counts, strict=True)):
        if count >= 2:
            assert 1 <= in_val <= count - 1, (label, in_val)
            assert abs(in_val - fraction * count) <= 1, (label, in_val, fraction * count)
        else:
            assert in_val == 0  # a lone sample stays in training


def test_split_is_deterministic_per_seed_and_leaves_global_rng_alone():
    dataset, _ = imbalanced_dataset()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = dataset.split(0.3, seed=7)
    assert torch.equal(torch.rand(3), expected_next)
    second = dataset.split(0.3, seed=7)
    other = dataset.split(0.3, seed=8)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[1], other[1])
    assert len(first[1]) == len(other[1])  # same per-class counts, different members


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, "0.1", True, float("nan")])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(DataError, match="val_fraction must be a number strictly between 0 and 1"):
        small_dataset().split(fraction)


def test_split_rejects_non_integer_seed():
    with pytest.raises(DataError, match="seed must be an integer"):
        small_dataset().split(0.1, seed="0")


# --- from_arrays layouts and values -----------------------------------------


def test_from_arrays_grayscale_nhw():
    x_train, y_train, x_test, y_test = small_arrays()
    dataset = from_arrays(x_train, y_train, x_test, y_test)
    assert dataset.x_train.shape == (20, 1, 8, 8)
    assert dataset.x_train.dtype == torch.uint8
    assert np.array_equal(dataset.x_train[:, 0].numpy(), x_train)
    assert dataset.classes == ("0", "1", "2", "3")
    assert dataset.name == "arrays"


def test_from_arrays_channels_last():
    x = random_images(12, (6, 5, 3))
    y = cycling_labels(12, 2)
    dataset = from_arrays(x, y, x[:4], y[:4])
    assert dataset.input_shape == (3, 6, 5)
    assert dataset.x_train[2, 1, 4, 3] == x[2, 4, 3, 1]


def test_from_arrays_channels_first_kept():
    x = random_images(12, (3, 6, 5))
    y = cycling_labels(12, 2)
    dataset = from_arrays(torch.from_numpy(x), torch.from_numpy(y), x[:4], y[:4])
    assert dataset.input_shape == (3, 6, 5)
    assert np.array_equal(dataset.x_train.numpy(), x)


def test_from_arrays_single_channel_last():
    x = random_images(4, (7, 7, 1))
    dataset = from_arrays(x, [0, 1, 0, 1], x, [1, 0, 1, 0])
    assert dataset.input_shape == (1, 7, 7)


def test_from_arrays_scales_unit_floats():
    x = np.full((4, 2, 2), 0.2, dtype=np.float32)
    x[0, 0, 0] = 1.0
    dataset = from_arrays(x, [0, 1, 0, 1], x, [0, 1, 0, 1])
    assert dataset.x_train.dtype == torch.uint8
    assert dataset.x_train[0, 0, 0, 0] == 255
    assert dataset.x_train[1, 0, 0, 0] == 51


def test_from_arrays_keeps_byte_range_floats_and_ints():
    x = np.array([[[0.0, 254.6]], [[17.2, 255.0]]])
    dataset = from_arrays(x, [0, 1], x.astype(np.int32), [1, 0])
    assert dataset.x_train[:, 0, 0].tolist() == [[0, 255], [17, 255]]
    assert dataset.x_test[:, 0, 0].tolist() == [[0, 254], [17, 255]]


def test_from_arrays_rejects_values_outside_byte_range():
    x = np.full((2, 3, 3), 300, dtype=np.int32)
    with pytest.raises(DataError, match=r"outside \[0, 255\]"):
        from_arrays(x, [0, 1], x, [0, 1])
    with pytest.raises(DataError, match=r"outside \[0, 255\]"):
        from_arrays(-np.ones((2, 3, 3)), [0, 1], x, [0, 1])


def test_from_arrays_nan_and_inf():
    x = np.zeros((2, 3, 3), dtype=np.float32)
    y = [0, 1]
    bad = x.copy()
    bad[1, 2, 2] = np.nan
    with pytest.raises(DataError, match="x_train holds NaN values"):
        from_arrays(bad, y, x, y)
    bad[1, 2, 2] = np.inf
    with pytest.raises(DataError, match="x_test holds infinite values"):
        from_arrays(x, y, bad, y)


@pytest.mark.parametrize("shape", [(2, 8), (2, 1, 3, 8, 8), (8,)])
def test_from_arrays_wrong_image_ndim(shape):
    x = np.zeros(shape, dtype=np.uint8)
    with pytest.raises(DataError, match=f"wrong ndim for x_train.*got {len(shape)}-d"):
        from_arrays(x, [0, 1], np.zeros((2, 8, 8), np.uint8), [0, 1])


def test_from_arrays_label_forms():
    x = random_images(4, (3, 3))
    dataset = from_arrays(x, np.array([[0], [1], [2], [1]], dtype=np.uint8), x, np.array([0.0, 1.0, 2.0, 2.0]))
    assert dataset.y_train.dtype == dataset.y_test.dtype == torch.int64
    assert dataset.y_train.tolist() == [0, 1, 2, 1]
    assert dataset.y_test.tolist() == [0, 1, 2, 2]
    with pytest.raises(DataError, match="label 1.5, not a whole number"):
        from_arrays(x, [0, 1.5, 1, 0], x, [0, 1, 0, 1])
    with pytest.raises(DataError, match=r"wrong ndim for y_train.*\(4, 2\).*argmax"):
        from_arrays(x, np.eye(4, 2), x, [0, 1, 0, 1])
    with pytest.raises(DataError, match="NaN or infinite labels"):
        from_arrays(x, [0, np.nan, 1, 0], x, [0, 1, 0, 1])


def test_default_classes_span_both_sets():
    x = random_images(4, (3, 3))
    dataset = from_arrays(x, [0, 1, 0, 1], x, [0, 1, 4, 1])
    assert dataset.classes == ("0", "1", "2", "3", "4")


def test_from_dict_and_missing_key():
    x_train, y_train, x_test, y_test = small_arrays(n_classes=2)
    full = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test, "classes": ["no", "yes"]}
    dataset = from_dict(full)
    assert dataset.classes == ("no", "yes")
    with pytest.raises(DataError, match="missing key 'y_test'"):
        from_dict({"x_train": x_train, "y_train": y_train, "x_test": x_test})


# --- npz ---------------------------------------------------------------------


def test_load_npz_with_and_without_classes(tmp_path):
    x_train, y_train, x_test, y_test = small_arrays(n_classes=3)
    path = tmp_path / "toy.npz"
    np.savez_compressed(
        path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, classes=np.array(["cat", "dog", "eel"])
    )
    dataset = load_npz(path)
    assert dataset.classes == ("cat", "dog", "eel")
    assert all(type(c) is str for c in dataset.classes)
    assert dataset.name == "toy"
    assert np.array_equal(dataset.x_test[:, 0].numpy(), x_test)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    assert load_npz(str(plain)).classes == ("0", "1", "2")


def test_load_npz_errors(tmp_path):
    with pytest.raises(DataError, match="no such .npz file"):
        load_npz(tmp_path / "absent.npz")
    partial = tmp_path / "partial.npz"
    np.savez(partial, x_train=np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(DataError, match="missing key 'y_train'"):
        load_npz(partial)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match="is not a numpy .npz archive: it holds text, starting 'not a zip file"):
        load_npz(garbage)


# --- IDX ---------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_folder(tmp_path, gz):
    arrays = idx_arrays()
    dataset = load_idx_folder(write_idx_folder(tmp_path / "digits", arrays, gz))
    assert dataset.input_shape == (1, 28, 28)
    assert np.array_equal(dataset.x_train[:, 0].numpy(), arrays[0])
    assert dataset.y_test.tolist() == arrays[3].tolist()
    assert dataset.classes == tuple("0123456789")
    assert dataset.name == "digits"


def test_load_idx_folder_fashion_names_and_override(tmp_path):
    folder = write_idx_folder(tmp_path / "Fashion-MNIST", idx_arrays(), gz=True)
    assert load_idx_folder(folder).classes == FASHION_MNIST_CLASSES
    custom = tuple(f"c{i}" for i in range(10))
    assert load_idx_folder(folder, classes=custom).classes == custom


def test_load_idx_folder_wrong_magic(tmp_path):
    folder = write_idx_folder(tmp_path / "swapped", idx_arrays(), gz=False)
    labels = (folder / "train-labels-idx1-ubyte").read_bytes()
    (folder / "train-images-idx3-ubyte").write_bytes(labels)
    with pytest.raises(DataError, match="wrong magic number for IDX images: expected 0x00000803, got 0x00000801"):
        load_idx_folder(folder)


def test_load_idx_folder_truncated_and_missing(tmp_path):
    folder = write_idx_folder(tmp_path / "cut", idx_arrays(), gz=False)
    raw = (folder / "t10k-images-idx3-ubyte").read_bytes()
    (folder / "t10k-images-idx3-ubyte").write_bytes(raw[:-10])
    with pytest.raises(DataError, match="truncated or damaged"):
        load_idx_folder(folder)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"lacks \['t10k-labels-idx1-ubyte\[.gz\]'\]"):
        load_idx_folder(folder)
    with pytest.raises(DataError, match="does not exist"):
        load_idx_folder(tmp_path / "nowhere")


@pytest.mark.skipif(not REAL_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_folder():
    dataset = load_idx_folder(REAL_FASHION_MNIST)
    assert (len(dataset.y_train), len(dataset.y_test)) == (60000, 10000)
    assert dataset.input_shape == (1, 28, 28)
    assert dataset.classes == FASHION_MNIST_CLASSES
    assert torch.bincount(dataset.y_train).tolist() == [6000] * 10


# --- torchvision layouts -----------------------------------------------------


def test_load_torchvision_cifar10_layout(tmp_path):
    x_train, y_train, x_test, y_test = write_cifar10(tmp_path)
    dataset = load_torchvision("cifar10", tmp_path)
    assert dataset.input_shape == (3, 32, 32)
    assert len(dataset.y_train) == 20 and len(dataset.y_test) == 6
    assert dataset.y_train.tolist() == y_train.tolist()
    assert dataset.classes[0] == "airplane" and dataset.classes[9] == "truck"
    # a CIFAR row is 1024 red, then 1024 green, then 1024 blue values, row-major
    assert dataset.x_train[5, 1, 2, 3] == x_train[5, 1024 + 2 * 32 + 3]
    assert dataset.x_test[0, 2, 31, 31] == x_test[0, 3071]


def test_load_torchvision_cifar100_layout(tmp_path):
    train_rows, _ = write_cifar100(tmp_path)
    dataset = load_torchvision("cifar100", str(tmp_path))
    assert dataset.n_classes == 100
    assert dataset.classes[42] == "class42"
    assert dataset.y_train.tolist() == [99 - i for i in range(8)]
    assert dataset.x_train[3, 0, 0, 0] == train_rows[3, 0]


@pytest.mark.parametrize(
    ("name", "folder", "classes"),
    [
        ("mnist", "MNIST/raw", tuple("0123456789")),
        ("fashion-mnist", "FashionMNIST/raw", FASHION_MNIST_CLASSES),
    ],
)
def test_load_torchvision_mnist_layouts(tmp_path, name, folder, classes):
    arrays = idx_arrays()
    write_idx_folder(tmp_path / folder, arrays, gz=False)  # torchvision keeps the inflated files
    dataset = load_torchvision(name, tmp_path)
    assert dataset.classes == classes
    assert dataset.name == name
    assert np.array_equal(dataset.x_test[:, 0].numpy(), arrays[2])


def test_load_torchvision_accepts_the_inner_folder_as_root(tmp_path):
    write_idx_folder(tmp_path / "fmnist", idx_arrays(), gz=True)
    assert load_torchvision("fashion-mnist", tmp_path / "fmnist").classes == FASHION_MNIST_CLASSES


def test_load_torchvision_offline_without_files(tmp_path):
    with pytest.raises(DataError, match="cifar10 not found under .*download is off.*--data-dir.*internet"):
        load_torchvision("cifar10", tmp_path)
    with pytest.raises(DataError, match="mnist not found.*--data-dir"):
        DataSource("mnist", root=str(tmp_path)).load()


def test_load_torchvision_incomplete_cifar_counts_as_missing(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="not found"):
        load_torchvision("cifar10", tmp_path)


def test_load_torchvision_download_failure(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, root, train=True, download=False):
            raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    with pytest.raises(DataError, match="downloading cifar10 .* failed .*no route to host.*--data-dir"):
        load_torchvision("cifar10", tmp_path, download=True)


def test_load_torchvision_download_reads_data_and_targets(tmp_path, monkeypatch):
    import torchvision.datasets

    class FakeMNIST:  # what torchvision's MNIST holds after a download: (N, 28, 28) uint8 and int64 targets
        def __init__(self, root, train=True, download=False):
            assert download
            n = 6 if train else 4
            self.data = torch.full((n, 28, 28), 7, dtype=torch.uint8)
            self.targets = torch.arange(n) % 10
            self.classes = ["0 - zero", "1 - one"]

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    dataset = load_torchvision("mnist", tmp_path, download=True)
    assert dataset.input_shape == (1, 28, 28)
    assert len(dataset.y_train) == 6 and len(dataset.y_test) == 4
    assert dataset.classes == tuple("0123456789")


def test_load_torchvision_unknown_name(tmp_path):
    with pytest.raises(DataError, match="unknown torchvision dataset 'svhn'.*cifar10"):
        load_torchvision("svhn", tmp_path)


# --- image folders -----------------------------------------------------------


def write_image_folder(root: Path, classes=("cat", "dog"), per_class=3, size=(6, 5), mode="RGB"):
    rng = np.random.default_rng(0)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    for split, count in (("train", per_class), ("test", 1)):
        for name in classes:
            for i in range(count):
                write_png(root / split / name / f"{i}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    return root


def test_load_image_folder_rgb(tmp_path):
    root = write_image_folder(tmp_path / "pets")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    dataset = load_image_folder(root)
    assert dataset.classes == ("cat", "dog")
    assert dataset.input_shape == (3, 5, 6)  # PIL sizes are width x height
    assert dataset.y_train.tolist() == [0, 0, 0, 1, 1, 1]
    assert dataset.y_test.tolist() == [0, 1]
    from PIL import Image

    with Image.open(root / "train" / "dog" / "1.png") as image:
        expected = np.asarray(image)
    assert np.array_equal(dataset.x_train[4].permute(1, 2, 0).numpy(), expected)


def test_load_image_folder_grayscale_and_mixed(tmp_path):
    gray = write_image_folder(tmp_path / "gray", mode="L")
    assert load_image_folder(gray).input_shape == (1, 5, 6)
    # one colour image makes the whole set RGB
    write_png(gray / "test" / "dog" / "colour.png", np.zeros((5, 6, 3), np.uint8))
    assert load_image_folder(gray).input_shape == (3, 5, 6)


def test_load_image_folder_size_mismatch_names_the_file(tmp_path):
    root = write_image_folder(tmp_path / "pets")
    write_png(root / "test" / "dog" / "big.png", np.zeros((9, 9, 3), np.uint8))
    with pytest.raises(DataError, match=r"images differ in size: .*big.png' is 9x9"):
        load_image_folder(root)


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="image folder .* does not exist"):
        load_image_folder(tmp_path / "absent")
    (tmp_path / "half" / "train" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="has no test/ sub-folder"):
        load_image_folder(tmp_path / "half")
    (tmp_path / "half" / "test" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="no images in .*train"):
        load_image_folder(tmp_path / "half")
    root = write_image_folder(tmp_path / "pets")
    write_png(root / "test" / "eel" / "0.png", np.zeros((5, 6, 3), np.uint8))
    with pytest.raises(DataError, match=r"class folders \['eel'\] that train/ lacks"):
        load_image_folder(root)


def test_load_image_folder_unreadable_image(tmp_path):
    root = write_image_folder(tmp_path / "pets")
    (root / "train" / "cat" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        load_image_folder(root)


# --- bundled sample ----------------------------------------------------------


def test_load_sample():
    dataset = load_sample()
    assert dataset.x_train.shape == (3000, 1, 28, 28)
    assert dataset.x_test.shape == (1000, 1, 28, 28)
    assert dataset.x_train.dtype == torch.uint8 and dataset.y_train.dtype == torch.int64
    assert dataset.classes == FASHION_MNIST_CLASSES
    assert torch.bincount(dataset.y_train).tolist() == [300] * 10
    assert torch.bincount(dataset.y_test).tolist() == [100] * 10
    assert dataset.x_train.float().std() > 10  # real images, not a blank array


# --- DataSource and load_data ------------------------------------------------


def write_npz(path: Path):
    x_train, y_train, x_test, y_test = small_arrays()
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def test_datasource_pickles_hashes_and_loads_once(tmp_path, monkeypatch):
    source = DataSource(str(write_npz(tmp_path / "toy.npz")))
    copy = pickle.loads(pickle.dumps(source))
    assert copy == source and hash(copy) == hash(source)
    calls = []
    real_load_npz = data.load_npz
    monkeypatch.setattr(data, "load_npz", lambda path: calls.append(path) or real_load_npz(path))
    first = source.load()
    assert copy.load() is first
    assert load_data(str(source.name)) is first
    assert len(calls) == 1
    data.clear_cache()
    assert source.load() is not first


def test_datasource_default_is_the_sample():
    assert DataSource() == DataSource("sample")
    assert DataSource().load().name == "fashion-mnist-sample"


def test_datasource_dispatches_on_paths(tmp_path):
    assert DataSource(str(write_npz(tmp_path / "toy.npz"))).load().name == "toy"
    idx = write_idx_folder(tmp_path / "idx", idx_arrays(), gz=True)
    assert DataSource(str(idx)).load().input_shape == (1, 28, 28)
    pets = write_image_folder(tmp_path / "pets")
    assert DataSource(str(pets)).load().classes == ("cat", "dog")
    write_cifar10(tmp_path / "tv")
    assert DataSource("cifar10", root=str(tmp_path / "tv")).load().input_shape == (3, 32, 32)


def test_datasource_rejects_unknown_names(tmp_path):
    with pytest.raises(DataError, match="unknown data source 'imagenet'.*'sample'.*'cifar10'.*npz"):
        DataSource("imagenet").load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds neither the four IDX files nor train/ and test/"):
        DataSource(str(tmp_path / "empty")).load()
    with pytest.raises(DataError, match="no such .npz file"):
        DataSource(str(tmp_path / "absent.npz")).load()
    with pytest.raises(DataError, match="non-empty string"):
        DataSource("")


def test_load_data_accepts_each_form(tmp_path):
    dataset = small_dataset()
    assert load_data(dataset) is dataset
    path = write_npz(tmp_path / "toy.npz")
    assert load_data(DataSource(str(path))) is load_data(str(path))
    assert load_data(path).name == "toy"
    with pytest.raises(DataError, match="cannot load data from a int"):
        load_data(3)
