"""Weight inheritance, torch side: a child network starts from its parent's trained tensors where it kept the layer.

The networks of these families are ``nn.Sequential`` stacks, so a tensor's
``state_dict`` name (``"3.weight"``) is its layer's position. A child keeps a
layer when the parent has a layer at the same position whose tensors have
the same names and shapes; every tensor of such a layer is copied (weights,
bias, batch-norm statistics), and every other layer keeps its fresh
initialisation. Layers are taken whole: a batch-norm layer whose counter
happens to match but whose statistics do not is not half inherited.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict

import torch

__all__ = ["inherit", "load_weights", "save_weights"]


def _layers(state: dict) -> dict:
    """``{layer name: {tensor name: tensor}}``: a state dict grouped by the module that owns each tensor."""
    layers = defaultdict(dict)
    for name, tensor in state.items():
        layers[name.rpartition(".")[0]][name] = tensor
    return layers


def inherit(child_model: torch.nn.Module, parent_state: dict) -> int:
    """Copy into ``child_model`` every layer of ``parent_state`` it kept (same position, same shapes).

    Returns the number of tensors copied: 0 when the child kept nothing.
    """
    child_state = child_model.state_dict()
    taken = {}
    for tensors in _layers(child_state).values():
        if all(name in parent_state and parent_state[name].shape == tensor.shape for name, tensor in tensors.items()):
            taken.update({name: parent_state[name] for name in tensors})
    if taken:
        with torch.no_grad():
            for name, tensor in taken.items():
                child_state[name].copy_(tensor.to(child_state[name].device, child_state[name].dtype))
    return len(taken)


def save_weights(model: torch.nn.Module, path):
    """Write ``model``'s state dict (on the CPU) to ``path`` atomically: readers see the old file or the new one."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".weights-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            state = {name: tensor.detach().to("cpu") for name, tensor in model.state_dict().items()}
            torch.save(state, handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_weights(path) -> dict:
    """The state dict saved at ``path`` (on the CPU), tensors only."""
    try:
        return torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no trained weights at {path}: the parent's weights were deleted or never saved; "
            "a child whose parent has no weights must train from scratch (parent=None)"
        ) from None
