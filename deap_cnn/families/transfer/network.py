"""Decode a transfer genome over a torchvision backbone into a standard ``torch.nn.Module``.

What a *layer* is, per backbone family (the ``kept`` and ``frozen`` genes count these):

- DenseNet (``densenet121`` by default, ``densenet161/169/201``): a dense
  layer. DenseNet-121 has 6 + 12 + 24 + 16 = 58 of them (the 58 the paper
  counts). Keeping ``k`` layers keeps the stem, every dense block up to the
  ``k``-th dense layer (a block cut short concatenates what it has, as a
  whole block does) and the transitions between them; the final norm comes
  along only when all layers are kept.
- ResNet (``resnet18/34/50/101/152``, ``resnext*``, ``wide_resnet*``): a
  residual block (8 for ResNet-18, 16 for ResNet-50).
- Any other torchvision model with a ``features`` sequence (``mobilenet_v2``,
  ``mobilenet_v3_small``, ``efficientnet_b0``, ``vgg11``, ...): a child of
  ``features``.

The stem (DenseNet's and ResNet's first convolution and pooling) belongs to
the first layer, a DenseNet transition to the first dense layer after it: a
layer carries the glue that leads into it, so it is kept and frozen together
with it. Freezing ``f`` layers sets ``requires_grad = False`` on the first
``f`` layers' parameters and keeps them in evaluation mode during training
(their batch-norm statistics stay the backbone's). The new head is global
average pooling, dropout (the genome's rate) and one linear layer (preceded
by batch norm and ReLU for a DenseNet cut short, whose features are not yet
normalised). One-channel images are repeated to three channels; other
channel counts pass through a trainable 1x1 convolution to three.

Weights, in this order: a local file the user names (a ``state_dict`` of the
whole torchvision model, as ``torch.save(model.state_dict(), path)`` writes
it); torchvision's pretrained weights, when already in torch's hub cache or
when the user allows downloading them; random initial weights only when the
user allows that explicitly. With none of these :class:`WeightsUnavailableError`
says what was tried and names the ways out. A process loads each backbone
once (a per-process cache) and copies it for every network it builds. How
many layers an input survives, and how many channels a cut leaves, come from
a shape-only pass through a copy of the architecture on the meta device.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import warnings
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..base import is_int
from .genome import TRAIN_DEFAULTS, TransferGenome
from .space import TransferSpace

__all__ = [
    "DEFAULT_BACKBONE",
    "WeightsUnavailableError",
    "BackboneError",
    "backbone_family",
    "load_weights_file",
    "load_backbone",
    "clear_backbone_cache",
    "DenseBlockPrefix",
    "count_layers",
    "TransferNet",
    "TransferBuilder",
    "transfer_settings",
]

DEFAULT_BACKBONE = "densenet121"


#: Seed of the random initial weights (when allowed), so every process draws the same backbone.
RANDOM_WEIGHTS_SEED = 0


class WeightsUnavailableError(RuntimeError):
    """No weights for the backbone could be had, and random ones were not allowed."""


class BackboneError(ValueError):
    """The backbone named is not a torchvision model, or not one this family can split into layers."""


def backbone_family(name: str) -> str:
    """``"densenet"``, ``"resnet"`` or ``"features"``: how :mod:`deap_cnn.families.transfer.network` counts its layers."""
    if name.startswith("densenet"):
        return "densenet"
    if name.startswith(("resnet", "resnext", "wide_resnet")):
        return "resnet"
    return "features"


def _build_untrained(name: str) -> nn.Module:
    import torchvision

    try:
        model = torchvision.models.get_model(name, weights=None)
    except ValueError as error:
        raise BackboneError(
            f"--backbone {name}: unknown torchvision backbone {name!r} ({error}); try densenet121, resnet18, mobilenet_v3_small"
        ) from None
    family = backbone_family(name)
    if family == "features" and not isinstance(getattr(model, "features", None), nn.Sequential):
        raise BackboneError(
            f"--backbone {name}: backbone {name!r} is not supported: deap_cnn.transfer_network splits DenseNets, ResNets and "
            "models with a 'features' sequence (MobileNet, EfficientNet, VGG, ...) into layers"
        )
    return model


def _head_prefixes(name: str) -> tuple:
    return ("fc.",) if backbone_family(name) == "resnet" else ("classifier.",)


_LEGACY_DENSE_KEY = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")


def _clean_state_dict(state: dict) -> dict:
    """Unwrap common checkpoint layouts and rename DenseNet's old ``norm.1`` keys to ``norm1``."""
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    cleaned = {}
    for key, value in state.items():
        if key.startswith("module."):  # saved from DataParallel
            key = key[len("module.") :]
        cleaned[_LEGACY_DENSE_KEY.sub(r"\1\2.", key)] = value
    return cleaned


def load_weights_file(model: nn.Module, name: str, path) -> nn.Module:
    """Load a ``state_dict`` file into ``model`` (the backbone ``name``); the classifier may differ or be absent.

    Every other parameter and buffer must be in the file with the right
    shape; otherwise :class:`WeightsUnavailableError` names what is missing
    or mismatched.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsUnavailableError(f"the weights file {path!r} for {name} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a torch error names the format problem
        raise WeightsUnavailableError(f"cannot read weights file {path!r}: {type(error).__name__}: {error}") from None
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"weights file {path!r} holds a {type(state).__name__}, not a state_dict")
    heads = _head_prefixes(name)
    state = {k: v for k, v in _clean_state_dict(state).items() if not k.startswith(heads)}
    own = model.state_dict()
    missing = [k for k in own if not k.startswith(heads) and k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        problems = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                problems.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise WeightsUnavailableError(
            f"weights file {path!r} does not fit torchvision's {name}: "
            + "; ".join(problems)
            + f". Save it from the same architecture: torch.save(torchvision.models.{name}().state_dict(), path)"
        )
    model.load_state_dict(state, strict=False)
    return model


def _hub_file(weights) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


def _registry_weights(name: str, allow_download: bool):
    """``(model, None)`` with torchvision's default weights, or ``(None, reason)``."""
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except Exception as error:  # noqa: BLE001 - any error: no weights to offer
        return None, f"torchvision offers no pretrained weights for {name} ({type(error).__name__}: {error})"
    cached = os.path.isfile(_hub_file(weights))
    if not cached and not allow_download:
        return None, (
            f"torchvision's {weights!r} is not in the torch hub cache ({_hub_file(weights)}) and downloading "
            "was not allowed"
        )
    try:
        return torchvision.models.get_model(name, weights=weights), None
    except Exception as error:  # noqa: BLE001 - no network, a proxy, a damaged file ...
        action = "loading the cached" if cached else "downloading"
        return None, f"{action} {weights!r} failed: {type(error).__name__}: {error}"


_BACKBONES: dict = {}


def load_backbone(name=DEFAULT_BACKBONE, weights_path=None, allow_download=False, allow_random=False):
    """``(model, source)``: the whole torchvision model on the CPU in eval mode, and where its weights came from.

    Loaded once per process (later calls return the same object: copy it
    before changing it). See the module's docstring for the order in which
    weights are looked for.
    """
    key = (
        name,
        None if weights_path is None else os.path.abspath(os.fspath(weights_path)),
        bool(allow_download),
        bool(allow_random),
    )
    if key in _BACKBONES:
        return _BACKBONES[key]
    if weights_path is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_WEIGHTS_SEED)  # the classifier, which the file may lack, is drawn repeatably
            model = _build_untrained(name)
        load_weights_file(model, name, weights_path)
        source = f"weights file {os.fspath(weights_path)}"
    else:
        _build_untrained(name)  # an unknown or unsupported name fails here, before any download
        model, reason = _registry_weights(name, allow_download)
        if model is not None:
            source = "torchvision pretrained weights"
        elif allow_random:
            warnings.warn(
                f"no pretrained weights for {name}: {reason}; using random initial weights, as allowed",
                RuntimeWarning,
                stacklevel=2,
            )
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_WEIGHTS_SEED)
                model = _build_untrained(name)
            source = "random initial weights"
        else:
            raise WeightsUnavailableError(
                f"no pretrained weights for backbone {name}: {reason}. Either name a local weights file "
                f"(weights_path=..., a state_dict saved with torch.save(torchvision.models.{name}(...).state_dict(), "
                f"path); --weights on the example), let torchvision download its weights (allow_download=True; "
                f"--download), or accept random initial weights explicitly (allow_random=True; --allow-random)"
            )
    model.eval()
    _BACKBONES[key] = (model, source)
    return model, source


def clear_backbone_cache():
    """Forget every backbone, layer count and channel count this process holds."""
    _BACKBONES.clear()
    _COUNTS.clear()
    _CHANNELS.clear()
    _SKELETONS.clear()


class DenseBlockPrefix(nn.Module):
    """The first dense layers of a DenseNet block, concatenated as the whole block concatenates them."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


def _densenet_plan(model, kept):
    """Stages of the first ``kept`` dense layers; per stage its first layer index; per module its layer index."""
    feats = model.features
    children = dict(feats.named_children())
    blocks = [children[n] for n in children if n.startswith("denseblock")]
    transitions = [children[n] for n in children if n.startswith("transition")]
    total = sum(len(block) for block in blocks)
    stem = nn.Sequential(feats.conv0, feats.norm0, feats.relu0, feats.pool0)
    stages, firsts, owners = [stem], [0], [(stem, 0)]
    start = 0
    for index, block in enumerate(blocks):
        if start >= kept:
            break
        if index > 0:
            stages.append(transitions[index - 1])
            firsts.append(start)
            owners.append((transitions[index - 1], start))
        layers = list(block.children())[: kept - start]
        stages.append(DenseBlockPrefix(layers))
        firsts.append(start)
        owners += [(layer, start + offset) for offset, layer in enumerate(layers)]
        start += len(layers)
    complete = kept >= total
    if complete:
        stages.append(feats.norm5)
        firsts.append(total - 1)
        owners.append((feats.norm5, total - 1))
    return stages, firsts, owners, total, complete


def _resnet_plan(model, kept):
    blocks = [block for name in ("layer1", "layer2", "layer3", "layer4") for block in getattr(model, name).children()]
    stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
    stages = [stem] + blocks[:kept]
    firsts = [0] + list(range(len(blocks[:kept])))
    owners = [(stem, 0)] + [(block, index) for index, block in enumerate(blocks[:kept])]
    return stages, firsts, owners, len(blocks), True


def _features_plan(model, kept):
    units = list(model.features.children())
    stages = units[:kept]
    return stages, list(range(len(stages))), [(m, i) for i, m in enumerate(stages)], len(units), True


def _plan(name, model, kept):
    family = backbone_family(name)
    planner = {"densenet": _densenet_plan, "resnet": _resnet_plan, "features": _features_plan}[family]
    stages, firsts, owners, total, complete = planner(model, kept)
    return stages, firsts, owners, total, complete and family == "densenet"


def _backbone_input(input_shape, resize):
    _, height, width = input_shape
    return (3, resize, resize) if resize else (3, height, width)


_SKELETONS: dict = {}


def _skeleton(name: str) -> nn.Module:
    """The backbone's architecture on the meta device (no memory, no arithmetic), in eval mode: for shape probes."""
    if name not in _SKELETONS:
        with torch.device("meta"):
            _SKELETONS[name] = _build_untrained(name).eval()
    return _SKELETONS[name]


def _probe(name, kept, shape):
    """Run a meta tensor through the first ``kept`` layers' stages of the backbone ``name``.

    Returns ``(layers that worked, channels out)``: ``(None, channels)`` when
    all of them did. Only shapes are computed, so a probe costs no arithmetic.
    """
    stages, firsts, _, _, _ = _plan(name, _skeleton(name), kept)
    x = torch.zeros(1, *shape, device="meta")
    with torch.no_grad():
        for stage, first in zip(stages, firsts, strict=True):
            try:
                x = stage(x)
            except (RuntimeError, ValueError):  # e.g. "Output size is too small"
                return first, None
            if x.dim() != 4 or min(x.shape[2:]) < 1:
                return first, None
    return None, int(x.shape[1])


def count_layers(name, input_shape, resize=None) -> int:
    """How many layers of the backbone ``name`` images of ``input_shape`` pass through.

    All of them unless the maps shrink below 1x1 first (DenseNet-121 on 28x28
    images: 42 of 58, since the third transition would pool a 1x1 map).
    ``resize`` is :class:`TransferBuilder`'s.
    """
    failed_at, _ = _probe(name, 10**9, _backbone_input(input_shape, resize))
    if failed_at is None:
        return _plan(name, _skeleton(name), 10**9)[3]
    return failed_at


_COUNTS: dict = {}


_CHANNELS: dict = {}


class TransferNet(nn.Module):
    """The kept backbone layers and a new head; the frozen layers stay in eval mode when training.

    Attributes: ``features`` (the kept layers), ``head``, ``adapter`` (a 1x1
    convolution to three channels, or ``None``), ``frozen_modules`` (names
    of the frozen submodules), ``kept``, ``frozen``, ``dropout``.
    """

    def __init__(self, features, head, in_channels, resize, frozen_names, kept, frozen, dropout):
        super().__init__()
        self.adapter = None if in_channels in (1, 3) else nn.Conv2d(in_channels, 3, 1)
        self.features = features
        self.head = head
        self.in_channels = in_channels
        self.resize = resize
        self.frozen_modules = tuple(frozen_names)
        self.kept, self.frozen, self.dropout = kept, frozen, dropout

    def forward(self, x):
        if self.in_channels == 1:
            x = x.repeat(1, 3, 1, 1)
        elif self.adapter is not None:
            x = self.adapter(x)
        if self.resize:
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
        return self.head(self.features(x))

    def train(self, mode: bool = True):
        super().train(mode)
        for name in self.frozen_modules:
            self.get_submodule(name).eval()
        return self


def _genes(genome):
    if isinstance(genome, str):
        genome = TransferGenome.from_string(genome)
    kept, frozen, _, dropout = genome
    return kept, frozen, dropout


@dataclass(frozen=True)
class TransferBuilder:
    """``builder(genome, input_shape, n_classes) -> TransferNet``, picklable for SCOOP workers.

    Parameters
    ----------
    backbone:
        A torchvision model name (default ``"densenet121"``; ``"resnet18"``
        and ``"mobilenet_v3_small"`` are light on a CPU).
    weights_path:
        A local ``state_dict`` file of that model, used before anything else.
    allow_download:
        Let torchvision download its pretrained weights when they are not
        in the torch hub cache.
    allow_random:
        Accept random initial weights when no pretrained ones can be had
        (a warning says so). Off by default: transfer learning from random
        weights is rarely what anyone means.
    resize:
        Resize images to ``resize x resize`` before the backbone (``None``:
        leave them; small images then reach fewer layers).

    Notes
    -----
    Only these settings travel when pickled; each process loads the
    backbone once (:func:`load_backbone`).
    """

    backbone: str = DEFAULT_BACKBONE
    weights_path: str | None = None
    allow_download: bool = False
    allow_random: bool = False
    resize: int | None = None

    def __post_init__(self):
        if not isinstance(self.backbone, str) or not self.backbone:
            raise ValueError(f"backbone must be a torchvision model name, got {self.backbone!r}")
        if self.weights_path is not None:
            object.__setattr__(self, "weights_path", os.fspath(self.weights_path))
        if self.resize is not None and (not is_int(self.resize) or self.resize < 1):
            raise ValueError(f"resize must be None or a positive integer, got {self.resize!r}")

    def load(self):
        """``(model, source)`` of the backbone (see :func:`load_backbone`)."""
        return load_backbone(self.backbone, self.weights_path, self.allow_download, self.allow_random)

    @property
    def source(self) -> str:
        """Where the backbone's weights come from (loads it if needed)."""
        return self.load()[1]

    def layer_count(self, input_shape) -> int:
        """Layers of the loaded backbone that ``input_shape`` images pass through: the bound of ``kept``."""
        self.load()  # the weights must be there (or a clear error say why not) before a search is planned
        key = (self.backbone, self.resize, tuple(input_shape))
        if key not in _COUNTS:
            _COUNTS[key] = count_layers(self.backbone, tuple(input_shape), self.resize)
        return _COUNTS[key]

    def space(self, input_shape, n_classes: int, **options) -> TransferSpace:
        """The :class:`~deap_cnn.families.transfer.space.TransferSpace` for this backbone and data shape.

        ``options`` go to the space (``lr_range``, ``dropout_range``, step sizes).
        Raises ``ValueError`` when the images are too small for even one layer.
        """
        n_layers = self.layer_count(input_shape)
        if n_layers < 1:
            raise ValueError(
                f"{tuple(input_shape)} images are too small for {self.backbone}'s first layer; "
                "pass resize= to enlarge them"
            )
        return TransferSpace(
            n_layers=n_layers, input_shape=tuple(input_shape), n_classes=n_classes, backbone=self.backbone, **options
        )

    def fingerprint(self) -> str:
        """A short hash of the builder's settings (add it to a results store's fingerprint)."""
        return hashlib.sha256(repr(sorted(asdict(self).items())).encode()).hexdigest()[:12]

    def __call__(self, genome, input_shape, n_classes: int) -> TransferNet:
        kept, frozen, dropout = _genes(genome)
        input_shape = tuple(input_shape)
        limit = self.layer_count(input_shape)
        if not 1 <= kept <= limit or not 0 <= frozen <= kept:
            raise ValueError(
                f"genome {genome} does not fit {self.backbone} on {input_shape} inputs: keep must be in "
                f"[1, {limit}] and freeze in [0, keep]; validate it against builder.space(...) first"
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        model, _ = self.load()
        backbone = copy.deepcopy(model)
        stages, _, owners, _, complete = _plan(self.backbone, backbone, kept)
        features = nn.Sequential(*stages)
        key = (self.backbone, self.resize, input_shape, kept)
        if key not in _CHANNELS:
            _, _CHANNELS[key] = _probe(self.backbone, kept, _backbone_input(input_shape, self.resize))
        channels = _CHANNELS[key]
        head = []
        if backbone_family(self.backbone) == "densenet":
            if not complete:
                head.append(nn.BatchNorm2d(channels))
            head.append(nn.ReLU(inplace=False))
        head += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, n_classes)]
        for module, layer in owners:
            if layer < frozen:
                module.requires_grad_(False)
        frozen_ids = {id(module) for module, layer in owners if layer < frozen}
        names = [f"features.{name}" for name, module in features.named_modules() if name and id(module) in frozen_ids]
        network = TransferNet(
            features, nn.Sequential(*head), input_shape[0], self.resize, sorted(set(names)), kept, frozen, dropout
        )
        return network.train()


def transfer_settings(**overrides):
    """:class:`~deap_cnn.training.settings.TrainSettings` for transfer learning.

    The optimiser is Adam (the paper's) without weight decay, at a constant
    rate: the genome's ``lr`` gene replaces ``lr`` for every candidate.
    ``overrides`` change any field. The paper's fitness, the validation
    loss, is the family's objective: ``Objectives("loss").wrap(evaluator)``.
    """
    from ...training.settings import TrainSettings

    return TrainSettings(**{**TRAIN_DEFAULTS, **overrides})
