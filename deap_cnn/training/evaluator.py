"""Score a genome: train its network briefly and measure it on held-out data.

Training candidates is where a search spends nearly all its time, so the
loop here skips the usual per-sample machinery: the data sits on the
training device as uint8 tensors, and each batch is gathered, augmented and
normalised there in a few whole-batch tensor operations, with no
``DataLoader``, no PIL images and no per-sample Python. Models and batches
are channels-last (faster convolutions with cuDNN and with oneDNN on CPU);
on CUDA they run under bf16 autocast.

Feature vectors (a :class:`~deap_cnn.training.datasets.VectorDataset`, float32 ``(N, F)``)
take the same path for fully connected networks: each batch is standardised
per feature on the device, with no augmentation and no channels-last layout.

Fitness comes from a validation split carved out of the training set; the
test set is touched only by :func:`~deap_cnn.training.final.train_and_test`, which a search calls
once, for its final report.

:class:`Evaluator` is what DEAP calls (``toolbox.register("evaluate",
evaluator)``). It is picklable and small: SCOOP workers receive the data's
*description* and each loads the data and moves it to its device once per
process (a module-level cache holds it). A failing candidate never ends a
run: out-of-memory, a diverging loss or any error while building or
training is recorded in the :class:`EvaluationRecord` with the worst fitness.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
import tempfile
import time

import torch

from ..families.base import is_int, qualified_name
from ..families.cnn_ga.network import build_network
from .device_data import DeviceData, device_data
from .devices import default_threads, select_device, use_threads
from .inheritance import inherit, load_weights, save_weights
from .lineage import evaluation_key, parent_of, weights_key, weights_path
from .models import count_flops, count_parameters, resolve_builder
from .settings import EvaluationRecord, TrainSettings, settings_for, worst_fitness
from .sources import DataSource, load_data
from .trainer import NonFiniteLossError, Trainer

__all__ = ["build_model", "evaluate_genome", "builder_fingerprint", "Evaluator"]  # resolve_builder: training.models


def build_model(genome, input_shape, n_classes: int, seed: int = 0, builder=build_network):
    """``builder``'s network for ``genome``, its weights drawn from ``seed``; the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(genome, input_shape, n_classes)


def _is_oom(error: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    return isinstance(error, (oom_type, torch.cuda.OutOfMemoryError)) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error)
    )


def _fitness(record: EvaluationRecord, kind: str) -> tuple:
    if kind == "best_val_acc":
        return (max(record.val_accuracy),)
    if kind == "last_val_acc":
        return (record.val_accuracy[-1],)
    return (-min(record.val_loss),)


@contextlib.contextmanager
def _seeded_global_rng(device: torch.device, seed: int):
    """Seed torch's global generators (dropout draws from them) for one candidate; restore them after."""
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.default_generators[device.index or 0].manual_seed(seed)
        yield


def _train_candidate(
    genome, data, space, settings, batch_size, builder, record, inherit_from=None, save_to=None, resume=None,
    save_state=None,
):  # fmt: skip
    """Build, train and validate one candidate, filling ``record`` as it goes.

    ``inherit_from``: a weights file to start from (:func:`inherit`);
    ``save_to``: where to save the trained weights. ``resume``: a training
    state (:func:`_load_state`) to continue from; ``save_state``: where to
    save the training state at the end.
    """
    model = build_model(genome, space.input_shape, space.n_classes, settings.seed, builder)
    if inherit_from is not None:
        record.inherited = inherit(model, load_weights(inherit_from))
    record.parameters = count_parameters(model)
    record.flops = count_flops(model, space.input_shape)
    with _seeded_global_rng(data.device, settings.seed):
        trainer = _train_epochs(model, data, settings, batch_size, record, resume)
        if save_state is not None:
            _save_state(trainer, record, save_state)
    if settings.latency_batch is not None:  # the trained network as it would serve, on the evaluating device
        from .latency import measure_latency

        record.latency_ms = measure_latency(model, space.input_shape, settings.latency_batch, device=data.device)
    if save_to is not None:
        save_weights(model, save_to)


def _save_state(trainer, record, path):
    """Write the training state and the record's curves so far (atomically): a later rung continues from it."""
    state = {
        "trainer": trainer.state_dict(),
        "torch_rng": torch.get_rng_state(),  # dropout's draws go on where they stopped
        "curves": {name: list(getattr(record, name)) for name in ("val_accuracy", "val_loss", "train_loss")},
        "epochs": record.epochs,
        "batch_size": trainer.batch_size,
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load_state(path):
    """A training state written by :func:`_save_state`, or ``None`` when there is none at ``path``."""
    if path is None or not os.path.exists(path):
        return None
    return torch.load(path, map_location="cpu", weights_only=True)  # data only: a run folder may come from anyone


def _train_epochs(model, data, settings, batch_size, record, resume=None):
    """Train ``model`` epoch by epoch, validating after each, until the epochs or the time budget run out.

    With ``resume`` (a saved training state) training goes on from the
    epoch it stopped at, its curves so far kept. Returns the trainer.
    """
    trainer = Trainer(model, data, settings, batch_size=batch_size)
    first = 1
    if resume is not None:
        trainer.load_state_dict(resume["trainer"])
        torch.set_rng_state(resume["torch_rng"])
        for name, values in resume["curves"].items():
            setattr(record, name, list(values))
        record.epochs = record.continued_from = first = resume["epochs"]
        first += 1
    if settings.record_batches:
        record.batch_loss, record.batch_seconds = trainer.batch_loss, trainer.batch_seconds
    started = time.perf_counter()
    for epoch in range(first, settings.epochs + 1):
        epoch_started = time.perf_counter()
        record.train_loss.append(trainer.train_epoch())
        accuracy, loss = trainer.evaluate()
        record.val_accuracy.append(accuracy)
        record.val_loss.append(loss)
        record.epochs = epoch
        if settings.record_batches:
            record.epoch_seconds.append(time.perf_counter() - epoch_started)
        if not math.isfinite(loss):
            raise NonFiniteLossError(f"validation loss is not finite after epoch {epoch}")
        if settings.time_budget is not None and time.perf_counter() - started >= settings.time_budget:
            break
    record.fitness = _fitness(record, settings.fitness)
    return trainer


def _free(device: torch.device, after_error: bool):
    # A caught exception's traceback links frames that hold the model: only a collection frees them.
    if after_error:
        gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def evaluate_genome(
    genome, data: DeviceData, space, settings: TrainSettings, builder=build_network, inherit_from=None, save_to=None,
    resume_from=None, save_state=None,
):  # fmt: skip
    """Train and score ``genome`` on ``data``; never raises for the candidate's own failures.

    Out of memory is retried once at half the batch size. See
    :class:`EvaluationRecord` for the statuses. ``inherit_from`` (a weights
    file) starts the network from those trained weights where its layers fit;
    ``save_to`` receives the trained weights of a candidate that trained
    without failing. ``resume_from`` (a training-state file; absent: train
    from the start) continues an earlier, shorter training of the same
    genome; ``save_state`` receives the training state at the end.
    """
    resume = _load_state(resume_from)
    started = time.perf_counter()
    worst = worst_fitness(settings)
    record = EvaluationRecord(genome=str(genome), fitness=worst, device=str(data.device))
    batch_size = settings.batch_size if resume is None else resume["batch_size"]
    for attempt in (1, 2):
        record.batch_size = batch_size
        record.val_accuracy, record.val_loss, record.epochs, record.continued_from = [], [], 0, 0
        record.train_loss, record.epoch_seconds, record.batch_loss, record.batch_seconds = [], [], [], []
        retry = failed = False
        try:
            _train_candidate(
                genome, data, space, settings, batch_size, builder, record, inherit_from, save_to, resume, save_state
            )
            record.status, record.error = "ok", None
        except NonFiniteLossError as error:
            failed = True
            record.status, record.error = "nan", str(error)
        except Exception as error:  # noqa: BLE001 - a candidate's failure is a result, not the end of the run
            failed = True
            message = f"{type(error).__name__}: {error}"
            if _is_oom(error):
                retry = attempt == 1 and batch_size > 1
                suffix = "" if attempt == 1 else f" (already retried at batch size {batch_size})"
                record.status, record.error = "oom", message + suffix
            else:
                record.status, record.error = "failed", message
        _free(data.device, failed)
        if not retry:
            break
        batch_size //= 2
        resume = None  # the saved state was for the larger batch: start over
    if record.status != "ok":
        record.fitness = worst
    record.seconds = time.perf_counter() - started
    return record


def builder_fingerprint(builder) -> str:
    """What identifies a builder in a cache key: its own ``fingerprint()``, else its qualified name."""
    own = getattr(builder, "fingerprint", None)
    if callable(own):
        return str(own())
    return qualified_name(builder, missing="")


class Evaluator:
    """Fitness of genomes, for ``toolbox.register("evaluate", evaluator)``.

    Parameters
    ----------
    data:
        Anything :func:`deap_cnn.training.sources.load_data` accepts. Prefer a
        :class:`~deap_cnn.training.sources.DataSource` or a name when evaluating on SCOOP
        workers: the evaluator is pickled to each, and an ``ImageDataset``
        would travel with it.
    space:
        The :class:`~deap_cnn.SearchSpace`; its ``input_shape`` and
        ``n_classes`` must fit the data (checked here, before any training:
        a mismatch raises :class:`~deap_cnn.training.datasets.DataError`).
    settings:
        The :class:`TrainSettings`.
    device:
        Passed to :func:`select_device` in each process that evaluates
        (``None``: ``DEAP_CNN_DEVICE``, else CUDA when available).
    threads:
        Torch threads on CPU (default :func:`default_threads`).
    builder:
        ``builder(genome, input_shape, n_classes) -> nn.Module``; a picklable
        callable (tests pass failing ones). ``None``: the builder the space
        names (:func:`~deap_cnn.training.models.resolve_builder`).
    weights_dir:
        A folder (the run's ``weights/``) for weight inheritance: every
        candidate saves its trained weights there as ``<weights key>.pt``, and a
        genome that carries a ``parent`` (a weights key, see
        :mod:`deap_cnn.training.lineage`) starts from that parent's weights.
        ``None``: no weights are saved or read.
    state_dir, continue_from:
        Continued training (successive halving): with ``state_dir`` each
        candidate that stops before its schedule ends (``settings.epochs <
        settings.schedule_epochs``) saves its training state there as
        ``<weights key>-e<epochs>.pt``; with ``continue_from`` (a number of
        epochs) too, a candidate whose state after that many epochs is there
        trains on from it for the remaining epochs only.

    Notes
    -----
    Only these arguments make up its state, so it pickles small; data and
    device live in a per-process cache.
    """

    def __init__(
        self, data, space, settings=TrainSettings(), device=None, threads=None, builder=None, weights_dir=None,
        state_dir=None, continue_from=None,
    ):  # fmt: skip
        if not isinstance(settings, TrainSettings):
            raise TypeError(f"settings must be a TrainSettings, got {type(settings).__name__}")
        if threads is not None and (not is_int(threads) or threads < 1):
            raise ValueError(f"threads must be None or an integer >= 1, got {threads!r}")
        self.data = data
        self.space = space
        self.settings = settings
        self.device = device
        self.threads = threads
        self.builder = resolve_builder(space, builder)
        self.weights_dir = None if weights_dir is None else str(weights_dir)
        self.state_dir = None if state_dir is None else str(state_dir)
        self.continue_from = continue_from
        load_data(data).check_fits(space.input_shape, space.n_classes)

    def __repr__(self):
        return (
            f"Evaluator(data={self.data!r}, space={self.space!r}, settings={self.settings!r}, "
            f"device={self.device!r}, threads={self.threads!r})"
        )

    def __call__(self, genome) -> tuple:
        return self.record(genome).fitness

    def fingerprint(self) -> str:
        """A short hash of what decides a fitness: settings, data and the space's shapes.

        Two evaluators with the same fingerprint give a genome the same
        fitness (up to nondeterminism on GPUs), so a cache may share results.
        """
        data = load_data(self.data)
        source = self.data if isinstance(self.data, DataSource) else (data.name, len(data.x_train))
        text = json.dumps(
            [
                self.settings.fingerprint(),
                repr(source),
                list(self.space.input_shape),
                self.space.n_classes,
                builder_fingerprint(self.builder),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def genome(self, genome):
        """``genome`` (a genome, an individual or canonical text) checked against the space.

        The space parses text and validates (``space.validate``), so genome
        families other than CNN-GA's plug in with their own space and builder.
        """
        return self.space.validate(genome)

    def state_path(self, key: str, epochs: int) -> str:
        """Where the training state of the evaluation ``key`` after ``epochs`` epochs lives in ``state_dir``."""
        return os.path.join(self.state_dir, f"{weights_key(key)}-e{epochs}.pt")

    def settings_for(self, genome) -> TrainSettings:
        """The settings ``genome`` trains with: its own hyperparameter genes, if any, override the evaluator's.

        See :func:`settings_for`.
        """
        return settings_for(genome, self.settings)

    def record(self, genome) -> EvaluationRecord:
        """Train and score ``genome``; the record says how it went.

        Raises only for usage errors (an invalid genome, data that does not
        fit the space); a candidate's own failures are recorded.
        """
        parent, key = parent_of(genome), evaluation_key(genome)  # read before validation makes a new genome
        genome = self.genome(genome)
        device = select_device(self.device)
        # Again here: a worker unpickles the evaluator without __init__, and may read other files.
        load_data(self.data).check_fits(self.space.input_shape, self.space.n_classes)
        settings = self.settings_for(genome)
        if device.type == "cuda":
            torch.cuda.set_device(device)  # keep this worker's context and cuDNN handles on its own GPU
        data = device_data(self.data, settings, device)
        if device.type == "cpu":
            use_threads(self.threads or default_threads())
        inherit_from = save_to = None
        if getattr(self, "weights_dir", None) is not None:
            save_to = weights_path(self.weights_dir, weights_key(key))
            inherit_from = weights_path(self.weights_dir, parent) if parent else None
        elif parent:
            raise ValueError(
                f"genome {genome} inherits weights {parent!r}, but this Evaluator has no weights_dir to read them from; "
                "pass Evaluator(..., weights_dir=RUN/weights)"
            )
        resume_from = save_state = None
        if getattr(self, "state_dir", None) is not None:
            if settings.epochs < (settings.schedule_epochs or settings.epochs):  # stopped early: may go on later
                save_state = self.state_path(key, settings.epochs)
            if self.continue_from:
                resume_from = self.state_path(key, self.continue_from)
        record = evaluate_genome(
            genome, data, self.space, settings, self.builder, inherit_from, save_to, resume_from, save_state
        )
        record.parent = parent
        return record
