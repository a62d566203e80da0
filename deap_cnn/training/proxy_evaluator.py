"""Fitness without training: the evaluator contract answered by zero-cost proxies of the untrained network.

:class:`ProxyEvaluator` has what a search asks of an
:class:`~deap_cnn.training.evaluator.Evaluator`: ``record(genome)`` returns
an :class:`~deap_cnn.training.settings.EvaluationRecord`, calling it the
fitness, ``fingerprint()`` what a results store keys on, ``settings`` a
dataclass with ``epochs``. It builds the genome's network with the
training's seed, scores it by the proxies of :mod:`deap_cnn.training.proxies`
on one batch and records, instead of curves, each proxy's score
(``record.proxies``; the fitness is the first proxy's), the real seconds
it took (``record.seconds``) and the multiply-adds of its forward and
backward passes (``record.macs``), so a budget can charge it. ``epochs``
is 0: nothing trains, so successive halving has no fidelities to climb
(``deap-cnn search --fitness`` refuses ``--halving``), and as a genome
scores the same every time (:attr:`ProxyEvaluator.deterministic`) a run
does not rerank its pick.

The batch is ``batch_size`` training images drawn with ``seed`` from the
training split (the validation images stay unseen), normalised per
channel as training does; with ``data=None`` it is seeded standard-normal
noise of the space's input shape (enough for the data-free synflow, and
what a table lookup, which has no images, can offer).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass

import torch

from ..families.base import is_int
from .evaluator import _free, _is_oom, build_model, builder_fingerprint
from .models import count_flops, count_parameters, resolve_builder
from .proxies import WORST_SCORE, ProxyError, check_proxies, forward_passes, timed_scores
from .settings import EvaluationRecord

__all__ = ["ProxySettings", "ProxyEvaluator", "proxy_batch"]


@dataclass(frozen=True)
class ProxySettings:
    """What a proxy evaluation computes: which proxies (the first is the fitness), on how many images, seeded how.

    ``seed`` seeds the network's initial weights (as a training's seed does)
    and the draw of the batch. ``epochs`` is always 0: a proxy trains nothing.
    """

    proxies: tuple = ("synflow",)
    batch_size: int = 64
    seed: int = 0
    val_fraction: float = 0.1
    split_seed: int = 0
    epochs: int = 0

    def __post_init__(self):
        object.__setattr__(self, "proxies", check_proxies(self.proxies))
        if not is_int(self.batch_size) or self.batch_size < 2:
            raise ValueError(f"batch_size must be an integer >= 2 (nwot and jacov compare images), got "
                             f"{self.batch_size!r}")  # fmt: skip
        if not is_int(self.seed):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if self.epochs != 0:
            raise ValueError(f"a proxy evaluation trains nothing: epochs must be 0, got {self.epochs!r}")

    @property
    def fitness(self) -> str:
        """The proxy the evaluator's own fitness is (not a training's fitness setting)."""
        return self.proxies[0]

    def fingerprint(self) -> str:
        text = json.dumps(["proxies/1", asdict(self)], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def proxy_batch(data, space, settings: ProxySettings) -> tuple:
    """The ``(inputs, targets)`` batch the proxies read: ``settings.batch_size`` normalised training images.

    ``data`` is anything :func:`~deap_cnn.training.sources.load_data`
    accepts, or ``None`` for seeded Gaussian noise (targets drawn at random).
    """
    generator = torch.Generator().manual_seed(settings.seed)
    if data is None:
        inputs = torch.randn((settings.batch_size, *space.input_shape), generator=generator)
        return inputs, torch.randint(0, space.n_classes, (settings.batch_size,), generator=generator)
    from .device_data import channel_stats, feature_stats
    from .sources import load_data

    dataset = load_data(data)
    train, _ = dataset.split(settings.val_fraction, settings.split_seed)
    chosen = train[torch.randperm(len(train), generator=generator)[: settings.batch_size]]
    images, targets = dataset.x_train[chosen], dataset.y_train[chosen].long()
    if images.dtype == torch.uint8:
        mean, std = channel_stats(dataset.x_train[train])
        inputs = (images.float() / 255.0 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    else:
        mean, std = feature_stats(dataset.x_train[train])
        inputs = (images.float() - mean) / std
    return inputs, targets


class ProxyEvaluator:
    """Fitness of genomes by zero-cost proxies, for ``toolbox.register("evaluate", evaluator)``.

    Parameters
    ----------
    data:
        Anything :func:`~deap_cnn.training.sources.load_data` accepts (prefer a
        :class:`~deap_cnn.training.sources.DataSource`: it pickles small), or
        ``None`` for a batch of seeded noise.
    space:
        The search space (``input_shape``, ``n_classes``, ``validate``).
    settings:
        A :class:`ProxySettings`.
    device:
        ``None``: CPU (a proxy evaluation takes well under a second per
        network there); ``"cuda"`` and others as :func:`~deap_cnn.training.devices.select_device` reads them.
    builder:
        As the :class:`~deap_cnn.training.evaluator.Evaluator`'s (``None``: the space's).
    """

    def __init__(self, data, space, settings: ProxySettings = ProxySettings(), device=None, builder=None):
        if not isinstance(settings, ProxySettings):
            raise TypeError(f"settings must be a ProxySettings, got {type(settings).__name__}")
        self.data = data
        self.space = space
        self.settings = settings
        self.device = device
        self.builder = resolve_builder(space, builder)
        self._batch = None
        if data is not None:
            from .sources import load_data

            load_data(data).check_fits(space.input_shape, space.n_classes)

    def __getstate__(self):
        return {**self.__dict__, "_batch": None}  # each process draws the batch again: pickles stay small

    def __repr__(self):
        return f"ProxyEvaluator(data={self.data!r}, space={self.space!r}, settings={self.settings!r})"

    @property
    def deterministic(self) -> bool:
        """A genome scores the same every time: reranking by scoring it again tells nothing."""
        return True

    def batch(self) -> tuple:
        """The batch every genome is scored on (drawn once per process)."""
        if self._batch is None:
            self._batch = proxy_batch(self.data, self.space, self.settings)
        return self._batch

    def __call__(self, genome) -> tuple:
        return self.record(genome).fitness

    def fingerprint(self) -> str:
        """A short hash of the settings, the data, the space's shapes and the builder."""
        source = None
        if self.data is not None:
            from .sources import DataSource, load_data

            data = load_data(self.data)
            source = self.data if isinstance(self.data, DataSource) else (data.name, len(data.x_train))
        text = json.dumps([self.settings.fingerprint(), repr(source), list(self.space.input_shape),
                           self.space.n_classes, builder_fingerprint(self.builder)])  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def record(self, genome) -> EvaluationRecord:
        """Score ``genome``'s untrained network; a failure (out of memory, an error in the network) is recorded."""
        from .devices import select_device

        genome = self.space.validate(genome)
        device = select_device(self.device or "cpu")
        settings = self.settings
        started = time.perf_counter()
        record = EvaluationRecord(genome=str(genome), fitness=(WORST_SCORE,), device=str(device), epochs=0)
        try:
            inputs, targets = self.batch()
            record.batch_size = len(inputs)
            network = build_model(genome, self.space.input_shape, self.space.n_classes, settings.seed, self.builder)
            network = network.to(device)
            record.parameters = count_parameters(network)
            record.flops = count_flops(network, self.space.input_shape)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(settings.seed)  # dropout's draws
                scores, _ = timed_scores(network, (inputs.to(device), targets.to(device)), settings.proxies)
            record.proxies = scores
            record.fitness = (scores[settings.proxies[0]],)
            record.macs = (record.flops // 2) * sum(forward_passes(name, len(inputs)) for name in settings.proxies)
        except ProxyError:
            raise
        except Exception as error:  # noqa: BLE001 - a candidate's failure is a result, not the end of the run
            record.status = "oom" if _is_oom(error) else "failed"
            record.error = f"{type(error).__name__}: {error}"
            record.fitness = (WORST_SCORE,)
            _free(device, True)
        record.seconds = time.perf_counter() - started
        return record
