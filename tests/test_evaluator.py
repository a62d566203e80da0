"""The evaluator: on-device batches, training that learns, failures recorded, determinism, pickling."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest
import torch
from conftest import as_individual
from torch import nn

from deap_cnn import Genome, GenomeError, SearchSpace
from deap_cnn.families.cnn_ga.network import build_network
from deap_cnn.runs.store import RECORD_FIELDS
from deap_cnn.training.augment import augment_batch, resolve_augment
from deap_cnn.training.datasets import DataError, ImageDataset
from deap_cnn.training.device_data import DeviceData
from deap_cnn.training.devices import default_threads, select_device, worker_index
from deap_cnn.training.evaluator import Evaluator, build_model
from deap_cnn.training.final import train_and_test
from deap_cnn.training.loaders import load_sample
from deap_cnn.training.settings import WORST_NEG_VAL_LOSS, TrainSettings
from deap_cnn.training.trainer import Trainer, lr_factor

SPACE = SearchSpace(input_shape=(1, 28, 28), n_classes=10, widths=(8, 16))
SMALL = "S8-Pmax-S16"
#: A couple of short epochs: enough to separate a learning trainer from a broken one, in about a second.
QUICK = TrainSettings(epochs=2, batch_size=64, max_batches_per_epoch=8)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def _record(settings=QUICK, genome=SMALL, data="sample", builder=build_network):
    return Evaluator(data, SPACE, settings, device="cpu", builder=builder).record(genome)


# --- augmentation -----------------------------------------------------------------


def _matches_a_crop(original, result, padding=4):
    """Whether ``result`` is some padded crop of ``original``, mirrored or not."""
    height, width = original.shape[-2:]
    padded = nn.functional.pad(original, (padding,) * 4)
    for top in range(2 * padding + 1):
        for left in range(2 * padding + 1):
            window = padded[:, top : top + height, left : left + width]
            if torch.equal(window, result) or torch.equal(window.flip(-1), result):
                return True
    return False


def test_crop_flip_keeps_shape_and_dtype_and_crops_each_image_on_its_own():
    images = torch.randint(1, 256, (16, 3, 32, 32), dtype=torch.uint8)  # no zeros: padding shows
    generator = torch.Generator().manual_seed(0)
    result = augment_batch(images, "crop_flip", generator)
    assert result.shape == images.shape and result.dtype == torch.uint8
    assert not torch.equal(result, images)
    assert all(_matches_a_crop(images[i], result[i]) for i in range(len(images)))
    shifted = [not torch.equal(result[i], images[i]) for i in range(len(images))]
    assert 0 < sum(shifted)  # not every image got the identity crop


def test_flip_mirrors_some_images_and_leaves_the_rest():
    images = torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8)
    result = augment_batch(images, "flip", torch.Generator().manual_seed(1))
    mirrored = [torch.equal(result[i], images[i].flip(-1)) for i in range(64)]
    kept = [torch.equal(result[i], images[i]) for i in range(64)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 10 < sum(mirrored) < 54


def test_float_batches_and_none_pass_through():
    images = torch.rand(4, 3, 32, 32)
    assert augment_batch(images, "none") is images
    assert augment_batch(images, "crop_flip", torch.Generator().manual_seed(0)).dtype == torch.float32


def test_auto_augments_cifar_like_images_only():
    assert resolve_augment("auto", (3, 32, 32)) == "crop_flip"
    assert resolve_augment("auto", (1, 28, 28)) == "none"
    assert resolve_augment("auto", (3, 28, 28)) == "none"
    assert resolve_augment("flip", (1, 28, 28)) == "flip"


def test_device_data_normalises_with_the_training_statistics():
    images = torch.randint(0, 256, (50, 3, 4, 4), dtype=torch.uint8)
    data = DeviceData.from_tensors(images, torch.zeros(50, dtype=torch.int64), images[:5], torch.zeros(5), "cpu")
    expected_mean = images.double().div(255).mean(dim=(0, 2, 3))
    assert torch.allclose(data.mean.double(), expected_mean, atol=1e-6)
    model = nn.Conv2d(3, 3, 1)  # any module with parameters: only the batches are looked at
    normalised = Trainer(model, data, TrainSettings(augment="none"))._prepare(images)
    assert normalised.dtype == torch.float32
    assert torch.allclose(normalised.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(normalised.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)


def test_schedules_warm_up_and_decay():
    assert lr_factor(0, "constant", 100) == 1.0
    assert lr_factor(0, "cosine", 100) == 1.0 and lr_factor(100, "cosine", 100) == pytest.approx(0.0)
    onecycle = [lr_factor(step, "onecycle", 100) for step in range(101)]
    peak = onecycle.index(max(onecycle))
    assert onecycle[0] < 0.2 and 10 <= peak <= 20 and onecycle[-1] == pytest.approx(0.0)


# --- training ---------------------------------------------------------------------


def test_short_training_learns_the_sample():
    settings = TrainSettings(epochs=2, batch_size=32)
    record = _record(settings, genome="S16-Pmax-S16")
    assert record.status == "ok", record.error
    assert record.fitness[0] > 0.6  # chance is 0.1; two epochs reach about 0.7
    assert record.fitness == (max(record.val_accuracy),)


def test_the_accuracy_bound_fails_a_trainer_that_cannot_learn():
    frozen = TrainSettings(epochs=2, batch_size=32, lr=0.0, nesterov=False, momentum=0.0)
    assert _record(frozen, genome="S16-Pmax-S16").fitness[0] < 0.3


def test_fitness_never_reads_the_test_set(sample):
    garbage = ImageDataset(
        sample.x_train,
        sample.y_train,
        torch.zeros_like(sample.x_test[:7]),
        torch.zeros(7, dtype=torch.int64),
        sample.classes,
        "garbage-test-set",
    )
    assert _record(data=sample).to_dict() | {"seconds": 0} == _record(data=garbage).to_dict() | {"seconds": 0}


def test_evaluation_is_deterministic_on_cpu():
    first, second = _record(), _record()
    assert first.fitness == second.fitness
    assert first.val_loss == second.val_loss


def test_the_seed_matters():
    assert _record().val_loss != _record(replace(QUICK, seed=1)).val_loss


def test_record_fields_are_filled():
    record = _record()
    assert record.status == "ok" and record.error is None
    assert record.genome == SMALL
    assert record.parameters > 0 and record.flops > 0
    assert record.epochs == 2 == len(record.val_accuracy) == len(record.val_loss)
    assert record.seconds > 0
    assert record.device == "cpu"
    assert record.batch_size == 64
    assert set(RECORD_FIELDS) <= set(record.to_dict())
    assert all(0.0 <= a <= 1.0 for a in record.val_accuracy)


def test_call_returns_the_fitness_for_deap_and_accepts_individuals():
    evaluator = Evaluator("sample", SPACE, QUICK, device="cpu")
    individual = as_individual(Genome.from_string(SMALL), fitness=None)
    assert evaluator(individual) == evaluator(SMALL) == _record().fitness


def test_neg_val_loss_fitness_is_the_lowest_loss_negated():
    with pytest.warns(DeprecationWarning, match="--objectives loss"):  # deprecated, still working
        settings = replace(QUICK, fitness="neg_val_loss")
    record = _record(settings)
    assert record.fitness == (-min(record.val_loss),)


def test_time_budget_stops_after_the_epoch_that_crosses_it():
    record = _record(replace(QUICK, epochs=5, time_budget=1e-6))
    assert record.status == "ok" and record.epochs == 1


def test_the_evaluator_pickles_and_its_copy_scores_the_same():
    evaluator = Evaluator("sample", SPACE, QUICK, device="cpu")
    blob = pickle.dumps(evaluator)
    assert len(blob) < 2000  # settings, not data
    assert pickle.loads(blob).record(SMALL).fitness == evaluator.record(SMALL).fitness


# --- usage errors raise -------------------------------------------------------------


def test_data_that_does_not_fit_the_space_raises_before_training():
    with pytest.raises(DataError, match="does not fit"):
        Evaluator("sample", SearchSpace(input_shape=(3, 32, 32), n_classes=10), QUICK)
    with pytest.raises(DataError, match="classes"):
        Evaluator("sample", SearchSpace(input_shape=(1, 28, 28), n_classes=5), QUICK)


def test_an_invalid_genome_raises():
    evaluator = Evaluator("sample", SPACE, QUICK, device="cpu")
    with pytest.raises(GenomeError, match="width"):
        evaluator.record("S64")
    with pytest.raises(GenomeError):
        evaluator.record("Pmax-S8")


# --- failures are recorded ----------------------------------------------------------


def broken_builder(genome, input_shape, n_classes):
    raise ValueError("no network today")


class CountingOOMBuilder:
    """Raises CUDA out-of-memory on its first ``failures`` calls, then builds normally."""

    def __init__(self, failures=10**9, error=None):
        self.failures = failures
        self.error = error or torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.calls = 0

    def __call__(self, genome, input_shape, n_classes):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return build_network(genome, input_shape, n_classes)


class TimesNaN(nn.Module):
    def forward(self, x):
        return x * float("nan")


def nan_builder(genome, input_shape, n_classes):
    return nn.Sequential(build_network(genome, input_shape, n_classes), TimesNaN())


def test_a_builder_error_is_recorded_as_failed():
    record = _record(builder=broken_builder)
    assert record.status == "failed"
    assert record.error == "ValueError: no network today"
    assert record.fitness == (0.0,)


def test_out_of_memory_is_retried_once_at_half_the_batch_then_recorded():
    builder = CountingOOMBuilder()
    record = _record(builder=builder)
    assert builder.calls == 2
    assert record.status == "oom" and record.batch_size == 32
    assert "OutOfMemoryError" in record.error
    assert record.fitness == (0.0,)


def test_out_of_memory_once_then_trains_at_half_the_batch():
    builder = CountingOOMBuilder(failures=1, error=RuntimeError("CUDA error: out of memory"))
    record = _record(builder=builder)
    assert builder.calls == 2
    assert record.status == "ok" and record.batch_size == 32 and record.fitness[0] > 0


def test_a_nan_loss_is_recorded_as_nan():
    record = _record(builder=nan_builder)
    assert record.status == "nan"
    assert "not finite" in record.error
    assert record.fitness == (0.0,)
    assert record.parameters > 0


def test_failed_neg_val_loss_gets_a_finite_worst_fitness():
    with pytest.warns(DeprecationWarning, match="--objectives loss"):
        settings = replace(QUICK, fitness="neg_val_loss")
    assert _record(settings, builder=broken_builder).fitness == (WORST_NEG_VAL_LOSS,)


# --- the final report -----------------------------------------------------------------


def test_train_and_test_reports_test_accuracy_once():
    settings = TrainSettings(epochs=1, batch_size=64, max_batches_per_epoch=4)
    report = train_and_test(SMALL, "sample", SPACE, settings, device="cpu")
    assert 0.0 <= report["test_accuracy"] <= 1.0
    assert report["epochs"] == 1 and len(report["train_loss"]) == 1
    assert report["parameters"] > 0 and report["device"] == "cpu"


# --- device and threads ----------------------------------------------------------------


def test_cpu_choice_never_initialises_cuda(monkeypatch):
    monkeypatch.setenv("DEAP_CNN_DEVICE", "cpu")
    assert select_device() == torch.device("cpu")
    assert select_device("cpu") == torch.device("cpu")
    _record()
    assert not torch.cuda.is_initialized()


def test_device_choice_errors(monkeypatch):
    with pytest.raises(ValueError, match="device must be"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            select_device("cuda:0")
        monkeypatch.delenv("DEAP_CNN_DEVICE", raising=False)
        assert select_device() == torch.device("cpu")


def test_worker_index_and_threads_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEAP_CNN_WORKER_INDEX", "3")
    assert worker_index() == 3
    monkeypatch.delenv("DEAP_CNN_WORKER_INDEX")
    assert worker_index() == worker_index() >= 0
    monkeypatch.setenv("DEAP_CNN_LOCAL_WORKERS", "1000")
    assert default_threads() == 1
    monkeypatch.setenv("DEAP_CNN_LOCAL_WORKERS", "zero")
    with pytest.raises(ValueError, match="DEAP_CNN_LOCAL_WORKERS"):
        default_threads()


def test_seeded_building_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    first = build_model(Genome.from_string(SMALL), (1, 28, 28), 10, seed=5)
    second = build_model(Genome.from_string(SMALL), (1, 28, 28), 10, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True))


# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": 0.0}, "nesterov"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"schedule": "step"}, "schedule"),
        ({"fitness": "accuracy"}, "fitness"),
        ({"augment": "cutout"}, "augment"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"time_budget": 0}, "time_budget"),
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"seed": "0"}, "seed"),
        ({"amp": "yes"}, "amp"),
        ({"max_batches_per_epoch": 0}, "max_batches_per_epoch"),
        ({"epochs": True}, "epochs"),
    ],
)
def test_settings_reject_bad_values(change, message):
    with pytest.raises(ValueError, match=message):
        TrainSettings(**change)


def test_fingerprint_is_stable_and_tracks_every_setting():
    assert TrainSettings().fingerprint() == TrainSettings().fingerprint()
    assert len(TrainSettings().fingerprint()) == 16
    int(TrainSettings().fingerprint(), 16)
    assert TrainSettings(epochs=3).fingerprint() != TrainSettings(epochs=4).fingerprint()
    assert TrainSettings(lr=0.1).fingerprint() != TrainSettings().fingerprint()


def test_each_space_names_its_builder_and_the_builder_enters_the_fingerprint():
    from deap_cnn.families.devol.network import build_devol_network
    from deap_cnn.families.devol.space import DevolSpace
    from deap_cnn.families.transfer.space import TransferSpace
    from deap_cnn.training.evaluator import resolve_builder

    assert resolve_builder(SearchSpace(input_shape=(1, 28, 28))) is build_network
    assert resolve_builder(DevolSpace(input_shape=(1, 28, 28), n_classes=10)) is build_devol_network
    with pytest.raises(TypeError, match="pass builder="):
        resolve_builder(TransferSpace(n_layers=8, input_shape=(1, 28, 28), n_classes=10))
    space = SearchSpace(input_shape=(1, 28, 28), n_classes=10, widths=(8,))
    plain = Evaluator("sample", space, TrainSettings(epochs=1))
    other = Evaluator("sample", space, TrainSettings(epochs=1), builder=broken_builder)
    assert plain.fingerprint() != other.fingerprint()
