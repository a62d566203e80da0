"""How candidates are trained and what an evaluation records (torch-free: the command line reads these)."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field, replace

from ..families.base import is_int, is_number

__all__ = [
    "SCHEDULES",
    "OPTIMIZERS",
    "FITNESSES",
    "FITNESS_OBJECTIVES",
    "AUGMENTS",
    "WORST_NEG_VAL_LOSS",
    "TrainSettings",
    "worst_fitness",
    "EvaluationRecord",
    "settings_for",
]

SCHEDULES = ("onecycle", "cosine", "constant")


OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


FITNESSES = ("best_val_acc", "last_val_acc", "neg_val_loss")


#: What replaces each deprecated ``fitness`` setting: the objective of :mod:`deap_cnn.search.objectives`.
FITNESS_OBJECTIVES = {"best_val_acc": "accuracy", "last_val_acc": "last_accuracy", "neg_val_loss": "loss"}


AUGMENTS = ("auto", "crop_flip", "flip", "none")


#: Fitness of a failed candidate under ``fitness="neg_val_loss"``: finite, so
#: DEAP's statistics and sorting keep working, and far below any real loss.
WORST_NEG_VAL_LOSS = -1e9


WARMUP_FRACTION = 0.15  # share of the steps the onecycle schedule spends warming up


@dataclass(frozen=True)
class TrainSettings:
    """How each candidate is trained and scored.

    Parameters
    ----------
    epochs, batch_size, lr, momentum, weight_decay, nesterov:
        Training of each candidate (CNN-GA's published code: SGD, momentum
        0.9, weight decay 5e-4, batch 128).
    optimizer:
        ``"sgd"`` (default), ``"adam"``, ``"adamw"`` or ``"rmsprop"``;
        ``momentum`` and ``nesterov`` apply to SGD (and momentum to RMSprop).
    schedule:
        ``"onecycle"`` (linear warm-up over the first 15% of steps, then
        cosine decay to zero), ``"cosine"`` (cosine decay from ``lr``) or
        ``"constant"``.
    label_smoothing:
        Of the training loss; the validation loss is plain cross-entropy.
    time_budget:
        Seconds of training per candidate, or ``None``: training stops after
        the epoch that crosses it (the schedule still assumes all ``epochs``).
    fitness:
        Deprecated: what a search optimises is its objectives
        (:class:`~deap_cnn.search.objectives.Objectives`, ``--objectives``).
        The evaluator's own one-element fitness, maximised:
        ``"best_val_acc"`` (the default: the ``accuracy`` objective),
        ``"last_val_acc"`` (``last_accuracy``) or ``"neg_val_loss"`` (the
        negated lowest validation loss; the ``loss`` objective minimises it
        instead). Any other than the default warns.
    augment:
        ``"crop_flip"`` (zero-pad 4 px, random crop back, random horizontal
        flip), ``"flip"``, ``"none"``, or ``"auto"``: crop_flip for 3-channel
        images of at least 32x32 (CIFAR-like), none otherwise (Fashion-MNIST
        and other small grayscale sets are left alone).
    val_fraction, split_seed:
        The validation split (``ImageDataset.split``).
    seed:
        Seeds weight initialisation, batch order, augmentation and random
        layers such as dropout, so an evaluation on CPU is reproducible.
    amp:
        bf16 autocast on CUDA (ignored on CPU, see ``cpu_amp``).
    cpu_amp:
        bf16 autocast on CPU: ``True``, ``False`` or ``"auto"`` (the default:
        on where the processor has native bf16, AVX512-BF16 or AMX, where it
        trains these networks about 2-2.5x faster; elsewhere bf16 is slower,
        and off). Like ``amp`` on CUDA it changes the numerics slightly (on
        the bundled sample, 0.797 against 0.800 accuracy after 4 epochs), so
        fitness can differ between processors; ``False`` keeps fp32 everywhere.
    channels_last:
        Channels-last layout for the model and batches. Measured faster for
        these networks with both cuDNN and oneDNN (CPU), so it applies on
        either device.
    max_batches_per_epoch:
        Cap on steps per epoch (quick tests and benchmarks), or ``None``.
    record_batches:
        Keep every training batch's loss and duration, and each epoch's
        duration, in the :class:`EvaluationRecord` (learning curves). Off by
        default: on CUDA each recorded batch waits for the GPU. It changes no
        fitness, so it is left out of :meth:`fingerprint`.
    schedule_epochs:
        The epochs the learning-rate schedule spans, when training stops
        before it ends (``None``: ``epochs``). Successive halving with
        continued training gives every rung the top rung's schedule, so that
        training a candidate for rung 1's epochs and then on to rung 2's is
        exactly training it for rung 2's epochs in one go.
    latency_batch:
        Measure each trained candidate's inference latency at this batch
        size on the evaluating device (:func:`~deap_cnn.training.latency.measure_latency`)
        into :class:`EvaluationRecord`'s ``latency_ms``, or ``None`` (the default:
        not measured). The ``latency`` objective and ``--max-latency`` read it.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    optimizer: str = "sgd"
    schedule: str = "onecycle"
    label_smoothing: float = 0.0
    time_budget: float | None = None
    fitness: str = "best_val_acc"
    augment: str = "auto"
    val_fraction: float = 0.1
    split_seed: int = 0
    seed: int = 0
    amp: bool = True
    cpu_amp: bool | str = "auto"
    channels_last: bool = True
    max_batches_per_epoch: int | None = None
    record_batches: bool = False
    schedule_epochs: int | None = None
    latency_batch: int | None = None

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not is_number(self.lr) or self.lr < 0:
            raise ValueError(f"lr must be a finite number >= 0, got {self.lr!r}")
        if not is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1), got {self.momentum!r}")
        if not is_number(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.cpu_amp not in (True, False, "auto"):
            raise ValueError(f"cpu_amp must be True, False or 'auto', got {self.cpu_amp!r}")
        for name in ("nesterov", "amp", "channels_last", "record_batches"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.nesterov and self.momentum == 0 and self.optimizer == "sgd":
            raise ValueError("nesterov=True needs momentum > 0; set nesterov=False or give a momentum")
        for name, choices in (("schedule", SCHEDULES), ("fitness", FITNESSES), ("augment", AUGMENTS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        if self.fitness != "best_val_acc":
            objective = FITNESS_OBJECTIVES[self.fitness]
            warnings.warn(
                f"TrainSettings(fitness={self.fitness!r}) is deprecated: declare the objective instead, "
                f"Objectives({objective!r}).wrap(evaluator) from deap_cnn.search.objectives "
                f"(deap-cnn search --objectives {objective})",
                DeprecationWarning,
                stacklevel=3,
            )
        if not is_number(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be a number in [0, 1), got {self.label_smoothing!r}")
        if self.time_budget is not None and (not is_number(self.time_budget) or self.time_budget <= 0):
            raise ValueError(f"time_budget must be None or a positive number of seconds, got {self.time_budget!r}")
        if not is_number(self.val_fraction) or not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be a number strictly between 0 and 1, got {self.val_fraction!r}")
        for name in ("split_seed", "seed"):
            if not is_int(getattr(self, name)):
                raise ValueError(f"{name} must be an integer, got {getattr(self, name)!r}")
        if self.schedule_epochs is not None and (
            not is_int(self.schedule_epochs) or self.schedule_epochs < self.epochs
        ):
            raise ValueError(
                f"schedule_epochs must be None or an integer >= epochs ({self.epochs}), got {self.schedule_epochs!r}"
            )
        cap = self.max_batches_per_epoch
        if cap is not None and (not is_int(cap) or cap < 1):
            raise ValueError(f"max_batches_per_epoch must be None or an integer >= 1, got {cap!r}")
        if self.latency_batch is not None and (not is_int(self.latency_batch) or self.latency_batch < 1):
            raise ValueError(f"latency_batch must be None or an integer >= 1, got {self.latency_batch!r}")

    def fingerprint(self) -> str:
        """A short hash of every setting that decides a fitness: the results store keys cached fitness on it."""
        settings = asdict(self)
        del settings["record_batches"]  # what is kept, not what is scored
        if self.schedule_epochs in (None, self.epochs):  # the same training: fingerprints of older runs still match
            del settings["schedule_epochs"]
        if self.latency_batch is None:  # nothing measured: fingerprints of runs before latency still match
            del settings["latency_batch"]
        text = json.dumps(settings, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def worst_fitness(settings: TrainSettings) -> tuple:
    """The fitness a failed candidate gets: no real candidate scores lower."""
    return (WORST_NEG_VAL_LOSS,) if settings.fitness == "neg_val_loss" else (0.0,)


@dataclass
class EvaluationRecord:
    """Everything one evaluation produced; ``fitness`` is what DEAP sees.

    ``status`` is ``"ok"``, ``"failed"`` (an error while building or training,
    named in ``error``), ``"nan"`` (the loss stopped being finite) or
    ``"oom"`` (out of memory even at half the batch size). All but ``"ok"``
    carry the worst fitness.

    ``parent`` names the trained weights the candidate started from (``""``:
    from scratch) and ``inherited`` counts the tensors it took over from them
    (:mod:`deap_cnn.training.inheritance`). ``continued_from`` is the
    number of epochs an earlier evaluation had trained when this one took over
    its training state (successive halving's continued training): this one
    trained ``epochs - continued_from`` epochs.

    ``noise_free_fitness`` is the exact score behind a noisy one, where
    there is one: a table lookup with ``--lookup-noise`` keeps the table's
    value here (``None`` for trainings).

    A zero-cost proxy's evaluation (:class:`~deap_cnn.training.proxy_evaluator.ProxyEvaluator`)
    trains nothing (``epochs`` 0): ``proxies`` holds each proxy's score of the
    untrained network and ``macs`` the multiply-adds it cost (forward and
    backward passes on its batch), beside its real ``seconds``. The results
    store keeps neither (the fitness holds the scores it optimises).

    ``latency_ms`` is the trained network's measured inference time (median
    milliseconds per batch of ``TrainSettings.latency_batch`` on the
    evaluating device), ``None`` when not measured.

    ``train_loss`` holds each epoch's mean training loss. With
    ``TrainSettings.record_batches`` the growth records are kept too:
    ``epoch_seconds`` (training plus validation, per epoch), and per epoch a
    list of every batch's training loss (``batch_loss``) and duration
    (``batch_seconds``). The results store keeps none of these four.
    """

    genome: str
    fitness: tuple
    val_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    parameters: int = 0
    flops: int = 0
    seconds: float = 0.0
    epochs: int = 0
    device: str = "cpu"
    status: str = "ok"
    error: str | None = None
    batch_size: int = 0
    parent: str = ""
    inherited: int = 0
    continued_from: int = 0
    noise_free_fitness: float | None = None
    latency_ms: float | None = None
    train_loss: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    batch_loss: list = field(default_factory=list)
    batch_seconds: list = field(default_factory=list)
    proxies: dict = field(default_factory=dict)
    macs: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def settings_for(genome, settings: TrainSettings) -> TrainSettings:
    """``settings`` with ``genome``'s own hyperparameter genes applied, if it has any.

    A genome that carries hyperparameters offers them as
    ``genome.training_overrides() -> dict`` of :class:`TrainSettings` fields.
    """
    overrides = getattr(genome, "training_overrides", None)
    return replace(settings, **overrides()) if overrides is not None else settings
