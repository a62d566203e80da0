"""A trained network as a file that runs without deap_cnn: ONNX, ``torch.export`` (``.pt2``) or TorchScript (``.ts``).

The format follows the file's suffix (:data:`FORMATS`). Every exported
network takes what a user has at hand, not what the trainer fed it: float32
raw pixel values on the ``[0, 255]`` scale, ``(N, C, H, W)`` (or raw
feature vectors, ``(N, F)``, for a dense network), with any batch size. The
training's normalisation (the training set's mean and standard deviation,
per channel or per feature) is folded in as the first operation
(:class:`Normalised`), so the file needs nothing beside it. It returns
logits, one per class; a softmax turns them into probabilities.

Each export is checked at once (:func:`check_export`): the file is loaded
back with its own runtime (ONNX Runtime, ``torch.export.load``,
``torch.jit.load``) and run on a batch of real inputs; its outputs must
match the PyTorch network's within a tolerance and predict the same
classes. A network a format cannot take is refused with one
:class:`ExportError` line naming the first layer the exporter fails on.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "FORMATS",
    "ExportError",
    "Normalised",
    "export_format",
    "export_network",
    "load_exported",
    "check_export",
    "failing_layer",
]

#: File suffix -> what it holds. ``.pt`` is deap_cnn's own pair of weights and JSON (``load_network`` reads it).
FORMATS = {
    ".onnx": "ONNX (torch.onnx, dynamic batch axis; run with onnxruntime)",
    ".pt2": "torch.export program (torch.export.load(path).module())",
    ".ts": "TorchScript (torch.jit.load(path); deprecated by PyTorch, prefer .pt2)",
    ".pt": "deap_cnn weights and JSON (deap_cnn.training.models.load_network)",
}

#: Names of the exported graph's input and output (ONNX; the other formats take and return plain tensors).
INPUT, OUTPUT = "input", "logits"

#: How close an exported network's logits must be to PyTorch's (float32 arithmetic in another order).
RTOL, ATOL = 1e-3, 1e-4


class ExportError(RuntimeError):
    """The network cannot be written in the asked format, or the written file does not compute what PyTorch does."""


class Normalised(nn.Module):
    """``network(input * scale - shift)``: raw pixels (``[0, 255]``) or raw features in, logits out.

    ``mean`` and ``std`` are the training's statistics (per channel on the
    ``[0, 1]`` scale for images, per feature for vectors), as
    :class:`~deap_cnn.training.device_data.DeviceData` applies them.
    """

    def __init__(self, network: nn.Module, mean, std, images: bool = True):
        super().__init__()
        self.network = network
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32)
        shape = (1, -1, 1, 1) if images else (1, -1)
        pixel = 255.0 if images else 1.0  # the trainer scales uint8 pixels to [0, 1] before normalising
        self.register_buffer("scale", (1.0 / (pixel * std)).view(shape))
        self.register_buffer("shift", (mean / std).view(shape))

    def forward(self, inputs):
        return self.network(inputs * self.scale - self.shift)


def export_format(path) -> str:
    """The suffix of ``path`` when it names a format of :data:`FORMATS` in a folder that exists; else one
    :class:`ExportError` line."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(
            f"cannot tell the export format from {os.fspath(path)!r}: end the file name in "
            f"{', '.join(FORMATS)} ({'; '.join(f'{s}: {what}' for s, what in FORMATS.items())})"
        )
    if not Path(path).parent.is_dir():
        raise ExportError(
            f"cannot write {os.fspath(path)!r}: its folder {os.fspath(Path(path).parent)!r} does not exist; "
            "create it first or export elsewhere"
        )
    return suffix


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress lines and deprecation notices: an export says one line of its own."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _batch_dim():
    return torch.export.Dim("batch", min=1, max=1 << 16)


def _write(model: nn.Module, path: Path, suffix: str, inputs: tuple):
    """Write ``model`` (traced on ``inputs``, the first one's batch axis dynamic) as ``suffix``.

    The exporter's own exceptions pass."""
    dynamic = ({0: _batch_dim()},) + (None,) * (len(inputs) - 1)
    with _quiet(), torch.no_grad():
        if suffix == ".onnx":
            program = torch.onnx.export(
                model, inputs, input_names=[INPUT], output_names=[OUTPUT], dynamo=True,
                dynamic_shapes=dynamic, verbose=False, optimize=True,
            )  # fmt: skip
            program.save(str(path))
        elif suffix == ".pt2":
            torch.export.save(torch.export.export(model, inputs, dynamic_shapes=dynamic), str(path))
        else:  # .ts: a trace (every family's forward is free of data-dependent control flow)
            torch.jit.trace(model, inputs, check_trace=False).save(str(path))


def _try_module(module: nn.Module, inputs: tuple, suffix: str) -> bool:
    """Whether ``module`` alone exports as ``suffix`` on ``inputs`` (written to a scratch file, then dropped)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        try:
            _write(module, Path(scratch) / f"layer{suffix}", suffix, inputs)
        except Exception:  # noqa: BLE001 - any exporter failure marks this layer as the culprit
            return False
    return True


def failing_layer(model: nn.Module, example: torch.Tensor, suffix: str) -> str | None:
    """The first leaf layer (``name (Type)``) that ``suffix``'s exporter fails on alone, in forward order; or ``None``.

    Each leaf's inputs are captured on one forward pass of ``example``, then
    each leaf is exported on its own: the first that fails is the one to
    name (a failure no single layer causes gives ``None``).
    """
    names = {module: name for name, module in model.named_modules() if not list(module.children())}
    seen, hooks = [], []

    def capture(module, inputs):
        if all(isinstance(i, torch.Tensor) for i in inputs) and inputs:
            seen.append((module, tuple(i.detach() for i in inputs)))

    for module in names:
        hooks.append(module.register_forward_pre_hook(capture))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    tried = set()
    for module, inputs in seen:
        if id(module) in tried:
            continue
        tried.add(id(module))
        if not _try_module(module, inputs, suffix):
            return f"{names[module] or 'the network'} ({type(module).__name__})"
    return None


def export_network(model: nn.Module, path, example: torch.Tensor, check: torch.Tensor | None = None) -> dict:
    """Write ``model`` (a :class:`Normalised` network, say) to ``path`` in its suffix's format, then check the file.

    ``example`` (a small batch of real inputs) traces the network;
    ``check`` (default ``example``) is what :func:`check_export` compares
    on. Returns the check's figures with ``format`` and ``path``. A network
    the exporter refuses raises :class:`ExportError` naming the failing
    layer; so does a file whose outputs differ from PyTorch's.
    """
    path = Path(path)
    suffix = export_format(path)
    if suffix == ".pt":
        raise ExportError(f"{path}: .pt is deap_cnn's own weights file; save it with training.models.save_network")
    if suffix == ".onnx":
        _require_onnx()
    model = model.eval()
    example = example.float()
    try:
        _write(model, path, suffix, (example,))
    except Exception as error:  # noqa: BLE001 - an exporter raises many kinds; the user needs the layer, not the type
        if path.exists():
            path.unlink()
        layer = failing_layer(model, example, suffix)
        where = f"layer {layer}" if layer else "the network as a whole (no single layer fails alone)"
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ExportError(
            f"cannot export to {suffix}: the exporter fails on {where}: {reason}; choose another format "
            f"({', '.join(s for s in FORMATS if s != suffix)})"
        ) from None
    return {"format": suffix, "path": str(path), **check_export(path, model, example if check is None else check)}


def _require_onnx():
    for module in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            raise ExportError(
                f"exporting to .onnx needs the {module} package: pip install 'deap_cnn[deploy]'"
            ) from None


def load_exported(path):
    """A function from a float32 numpy batch to numpy logits, running the file at ``path`` with its own runtime.

    No deap_cnn code runs: ONNX files go through ONNX Runtime (CPU),
    ``.pt2`` through ``torch.export.load``, ``.ts`` through ``torch.jit.load``.
    """
    path = Path(path)
    suffix = export_format(path)
    if not path.is_file():
        raise ExportError(f"{path} does not exist: write it first with deap-cnn best RUN --export {path}")
    if suffix == ".onnx":
        _require_onnx()
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda batch: session.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
    if suffix == ".pt2":
        with _quiet():
            module = torch.export.load(str(path)).module()
    elif suffix == ".ts":
        with _quiet():  # torch.jit.load's deprecation notice: the format's status is in FORMATS and the docs
            module = torch.jit.load(str(path), map_location="cpu")
    else:
        raise ExportError(f"{path}: a .pt file is deap_cnn's own; load it with training.models.load_network")

    def run(batch):
        with torch.no_grad():
            return module(torch.as_tensor(np.asarray(batch, dtype=np.float32))).numpy()

    return run


def check_export(path, model: nn.Module, batch: torch.Tensor, rtol: float = RTOL, atol: float = ATOL) -> dict:
    """Run ``batch`` through the file at ``path`` and through ``model``: same logits within tolerance, same classes.

    Returns ``max_difference`` (the largest absolute logit difference),
    ``images`` (the batch size) and ``agree`` (predicted classes in common);
    raises :class:`ExportError` when they differ.
    """
    batch = batch.float().cpu()
    with torch.no_grad():
        expected = model.eval().cpu()(batch).float().numpy()
    got = load_exported(path)(batch.numpy())
    if got.shape != expected.shape:
        raise ExportError(f"{path}: the exported network returns shape {got.shape}, PyTorch {expected.shape}")
    difference = float(np.abs(got - expected).max()) if got.size else 0.0
    agree = int((got.argmax(axis=1) == expected.argmax(axis=1)).sum())
    if not np.allclose(got, expected, rtol=rtol, atol=atol) or agree != len(batch):
        raise ExportError(
            f"{path}: the exported network differs from PyTorch on {len(batch)} inputs of the run's data (largest "
            f"logit difference {difference:.2g}, {agree}/{len(batch)} classes agree); export to another format"
        )
    return {"max_difference": difference, "images": len(batch), "agree": agree}
