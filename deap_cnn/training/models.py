"""Networks as objects: parameter and FLOP counts, saving and loading a trained network with its genome."""

from __future__ import annotations

import importlib

import torch
from torch import nn

__all__ = ["count_parameters", "count_flops", "resolve_builder", "save_network", "load_network"]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def resolve_builder(space, builder=None):
    """The network builder for ``space``'s genomes: ``builder`` when given, else the one the space names.

    A genome family's space (or its :class:`~deap_cnn.families.Family`)
    names its builder as a ``"module:function"`` string (``network_builder``),
    so genomes and spaces stay free of torch; ``builder`` may be such a
    string too. Spaces whose networks need settings of their own (a
    transfer-learning backbone) name none, and a builder must be passed.
    """
    if builder is None:
        builder = getattr(space, "network_builder", None)
        if not builder:
            raise TypeError(
                f"{type(space).__name__} names no default network builder: "
                "pass builder=... (e.g. a TransferBuilder) to the Evaluator"
            )
    if isinstance(builder, str):
        module, _, attribute = builder.partition(":")
        builder = getattr(importlib.import_module(module), attribute)
    if not callable(builder):
        raise TypeError(f"builder must be callable as builder(genome, input_shape, n_classes), got {builder!r}")
    return builder


def count_flops(model: nn.Module, input_shape) -> int:
    """FLOPs of one forward pass on a single ``input_shape`` image (PyTorch's FLOP counter).

    Counts each multiply-add as two FLOPs, convolutions and linear layers
    only, as ``torch.utils.flop_counter`` does.
    """
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def save_network(model: nn.Module, path, genome, input_shape, n_classes: int, family="cnn-ga", **details):
    """Save ``model``'s ``state_dict`` to ``path`` and its architecture beside it as JSON.

    The JSON file (``path`` with the suffix ``.json``) holds the family, the
    canonical genome, the input shape, the class count and any ``details``
    (the test accuracy, ``family_options`` such as a backbone);
    :func:`load_network` rebuilds the module from the pair.
    """
    import json
    from pathlib import Path

    path = Path(path)
    torch.save(model.state_dict(), path)
    description = {
        "family": family,
        "genome": str(genome),
        "input_shape": list(input_shape),
        "n_classes": int(n_classes),
        "weights": path.name,
        **details,
    }
    path.with_suffix(".json").write_text(json.dumps(description, indent=2))


def load_network(path, map_location="cpu") -> nn.Module:
    """Rebuild the module saved by :func:`save_network` (``path`` is the weights file or its JSON).

    The family rebuilds the space and the network from the saved genome;
    the saved weights then replace every parameter (so a transfer family's
    backbone needs no pretrained file here).
    """
    import json
    from pathlib import Path

    from ..families import get_family

    path = Path(path)
    description = json.loads(path.with_suffix(".json").read_text())
    family = get_family(description.get("family", "cnn-ga"))
    options = {**description.get("family_options", {}), "allow_random": True, "download": False}
    input_shape, n_classes = tuple(description["input_shape"]), description["n_classes"]
    space = family.space(input_shape, n_classes, options)
    builder = resolve_builder(space, family.network_builder(space, options))
    model = builder(space.parse(description["genome"]), input_shape, n_classes)
    weights = path.with_suffix(".json").with_name(description["weights"])
    model.load_state_dict(torch.load(weights, map_location=map_location, weights_only=True))
    return model
