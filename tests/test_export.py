"""Export: every family's network in every format, loaded back without deap_cnn, and the refusals."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from deap_cnn.families import get_family
from deap_cnn.training.evaluator import resolve_builder
from deap_cnn.training.export import (
    FORMATS,
    ExportError,
    Normalised,
    check_export,
    export_format,
    export_network,
    failing_layer,
)

onnxruntime = pytest.importorskip("onnxruntime", reason="the deploy extra: pip install 'deap_cnn[deploy]'")

#: One tiny space per family (and --hyper); image families see 1x16x16 images, dense 12 features.
CASES = {
    "cnn-ga": ((1, 16, 16), {"widths": (4,), "max_skip_units": 2}),
    "devol": ((1, 16, 16), {"widths": (4,), "units": (8,)}),
    "cnn-ga+hyper": ((1, 16, 16), {"widths": (4,), "max_skip_units": 2}),
    "nats": ((3, 16, 16), {"cell_channels": 4, "cells_per_stage": 1}),
    "transfer": ((3, 32, 32), {"backbone": "resnet18", "allow_random": True, "download": False}),
    "dense": ((12,), {"units": (8,)}),
}


@pytest.fixture(autouse=True)
def no_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-hub"))  # a transfer backbone starts random


def tiny_network(name, seed=0):
    """A random genome of family ``name``, built, with its normalisation folded in; and a batch of raw inputs."""
    shape, options = CASES[name]
    family = get_family(name)
    space = family.space(shape, 3, options)
    random.seed(seed)
    genome = family.init(family.genome_class, space)
    torch.manual_seed(seed)
    network = resolve_builder(space, family.network_builder(space, options))(genome, shape, 3).eval()
    images = len(shape) == 3
    model = Normalised(network, [0.5] * shape[0], [0.25] * shape[0], images=images).eval()  # per channel or feature
    generator = torch.Generator().manual_seed(seed)
    high = 255.0 if images else 16.0
    batch = torch.rand(6, *shape, generator=generator) * high
    return model, batch


def load_back(path: Path, batch: np.ndarray) -> np.ndarray:
    """Run the exported file with its own runtime only: ONNX Runtime, ``torch.export.load``, ``torch.jit.load``."""
    if path.suffix == ".onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: batch})[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in favour of .pt2
        module = torch.export.load(str(path)).module() if path.suffix == ".pt2" else torch.jit.load(str(path))
    with torch.no_grad():
        return module(torch.from_numpy(batch)).numpy()


@pytest.mark.filterwarnings("ignore:no pretrained weights:RuntimeWarning")
@pytest.mark.parametrize("suffix", [".onnx", ".pt2", ".ts"])
@pytest.mark.parametrize("name", list(CASES))
def test_every_family_exports_to_every_format_and_loads_back_without_deap_cnn(tmp_path, name, suffix):
    model, batch = tiny_network(name)
    done = export_network(model, tmp_path / f"net{suffix}", batch[:2], check=batch)
    assert done["format"] == suffix and done["agree"] == len(batch) and done["max_difference"] < 1e-3
    other = batch.flip(0)[:5].contiguous()  # another batch size than the trace's: the batch axis is dynamic
    got = load_back(tmp_path / f"net{suffix}", other.numpy())
    with torch.no_grad():
        expected = model(other).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_an_exported_file_runs_in_a_python_that_never_imports_deap_cnn(tmp_path):
    model, batch = tiny_network("cnn-ga")
    for suffix in (".onnx", ".pt2", ".ts"):
        export_network(model, tmp_path / f"net{suffix}", batch[:2])
    np.save(tmp_path / "batch.npy", batch.numpy())
    with torch.no_grad():
        np.save(tmp_path / "expected.npy", model(batch).numpy())
    code = """
import sys, warnings, numpy as np, onnxruntime, torch
warnings.simplefilter("ignore", FutureWarning)
batch, expected = np.load("batch.npy"), np.load("expected.npy")
session = onnxruntime.InferenceSession("net.onnx", providers=["CPUExecutionProvider"])
outputs = [session.run(None, {"input": batch})[0]]
for module in (torch.export.load("net.pt2").module(), torch.jit.load("net.ts")):
    outputs.append(module(torch.from_numpy(batch)).detach().numpy())
assert not [name for name in sys.modules if name.startswith("deap_cnn")]
for out in outputs:
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-4)
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_the_normalisation_is_folded_in_as_the_trainer_applies_it():
    from deap_cnn.training.device_data import DeviceData

    images = torch.randint(0, 256, (8, 3, 4, 4), dtype=torch.uint8)
    data = DeviceData.from_tensors(images, torch.zeros(8, dtype=torch.long), images, torch.zeros(8), "cpu")
    folded = Normalised(nn.Identity(), data.mean, data.std)
    trained = images.float() * data.scale - data.shift
    torch.testing.assert_close(folded(images.float()), trained)


@pytest.mark.parametrize(
    "path, fragment",
    [("net.onnx.txt", "end the file name in .onnx"), ("missing/net.onnx", "does not exist; create it first")],
)
def test_a_path_without_a_format_or_a_folder_is_one_line_naming_the_fix(tmp_path, path, fragment):
    with pytest.raises(ExportError, match=fragment) as caught:
        export_format(tmp_path / path)
    assert "\n" not in str(caught.value)


class Unexportable(nn.Module):
    """A layer whose forward leaves tensors for numpy: no exporter can follow it."""

    def forward(self, inputs):
        return torch.from_numpy(inputs.numpy() * 2)


def test_a_network_a_format_cannot_take_is_refused_naming_the_layer(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), Unexportable(), nn.Linear(4, 2)).eval()
    batch = torch.rand(3, 4)
    assert failing_layer(model, batch, ".pt2") == "2 (Unexportable)"
    with pytest.raises(ExportError, match=r"cannot export to \.pt2: the exporter fails on layer 2 \(Unexportable\)"):
        export_network(model, tmp_path / "net.pt2", batch)
    assert not (tmp_path / "net.pt2").exists()


def test_a_file_that_computes_something_else_is_refused(tmp_path):
    model, batch = tiny_network("devol")
    export_network(model, tmp_path / "net.pt2", batch[:2])
    other, _ = tiny_network("devol", seed=1)
    with pytest.raises(ExportError, match="differs from PyTorch"):
        check_export(tmp_path / "net.pt2", other, batch)


def test_every_format_is_documented():
    assert set(FORMATS) == {".onnx", ".pt2", ".ts", ".pt"}
    page = (Path(__file__).resolve().parent.parent / "docs" / "deploy.md").read_text()
    assert all(f"`{suffix}`" in page for suffix in FORMATS)


def test_best_json_of_a_run_holds_what_an_export_needs(tmp_path, monkeypatch):
    """The final training saves the normalisation; ``best --export`` writes each format from it."""
    from deap_cnn.runs.cli import main

    monkeypatch.setenv("DEAP_CNN_DEVICE", "cpu")
    out = tmp_path / "run"
    args = ["--population", "2", "--generations", "1", "--epochs", "1", "--max-batches", "2", "--final-epochs", "1"]
    assert main(["search", "--family", "devol", *args, "--widths", "4", "--units", "8", "--out", str(out)]) == 0
    best = json.loads((out / "best.json").read_text())
    assert len(best["normalisation"]["mean"]) == 1 and best["test_images"] == 1000
    for suffix in (".onnx", ".pt2", ".ts", ".pt"):
        assert main(["best", str(out), "--export", str(tmp_path / f"winner{suffix}")]) == 0
    assert (tmp_path / "winner.json").exists()
    assert main(["best", str(out), "--export", str(tmp_path / "winner.h5")]) == 1


def test_the_deploy_benchmark_prints_both_runtimes_at_each_batch(tmp_path):
    from conftest import make_run

    run = make_run(tmp_path / "run")
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "deploy.py"
    args = [str(run), "--batches", "1", "4", "--repeats", "1", "--calls", "1", "--threads", "1"]
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "ONNX export checked on 64 inputs" in lines[0] and "1 thread(s)" in lines[0]
    assert [line.split(":")[0] for line in lines[1:]] == ["batch   1", "batch   4"]
    assert all("pytorch" in line and "onnxruntime" in line and "x as fast" in line for line in lines[1:])
    assert done.stderr == ""  # quiet: no exporter chatter, no deprecation notices
