"""``deap-cnn predict``: images read as the run trained, class names, an unreadable file, ONNX against PyTorch."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from conftest import make_run
from PIL import Image

from deap_cnn.runs.cli import main
from deap_cnn.runs.winner import load_winner
from deap_cnn.training.datasets import FASHION_MNIST_CLASSES
from deap_cnn.training.loaders import load_sample


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("predict") / "run")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Three test images of the sample, saved larger and in colour (predict must bring them back to 1x28x28)."""
    folder = tmp_path_factory.mktemp("images")
    data = load_sample()
    for i in range(3):
        Image.fromarray(data.x_test[i, 0].numpy()).resize((56, 56)).convert("RGB").save(folder / f"{i}.png")
    return folder


def test_predict_names_a_class_and_a_probability_per_image_as_the_run_trained(run, images, capsys):
    assert main(["predict", str(run), str(images)]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [line[0] for line in lines] == [str(images / f"{i}.png") for i in range(3)]
    winner = load_winner(run)
    model = winner.deployable()
    for file, label, probability in lines:
        pixels = Image.open(file).convert("L").resize((28, 28), Image.Resampling.BILINEAR)
        batch = torch.from_numpy(np.asarray(pixels, dtype=np.float32))[None, None]
        with torch.no_grad():
            expected = torch.softmax(model(batch), 1)[0]
        assert label == FASHION_MNIST_CLASSES[int(expected.argmax())]
        assert float(probability) == pytest.approx(float(expected.max()), abs=1e-4)


def test_an_unreadable_image_is_one_line_and_the_rest_go_on(run, images, tmp_path, capsys):
    (tmp_path / "broken.png").write_text("not an image")
    assert main(["predict", str(run), str(images / "0.png"), str(tmp_path / "broken.png"), "missing.png"]) == 1
    printed = capsys.readouterr()
    assert printed.out.count("\n") == 1 and printed.out.startswith(str(images / "0.png"))
    assert [line for line in printed.err.splitlines() if "broken.png" in line or "missing.png" in line] == [
        line for line in printed.err.splitlines()
    ]
    assert len(printed.err.splitlines()) == 2


def test_onnx_and_pytorch_predict_the_same_and_the_csv_holds_them(run, images, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    assert main(["predict", str(run), str(images), "--out", str(tmp_path / "torch.csv")]) == 0
    assert main(["predict", str(run), str(images), "--format", "onnx", "--out", str(tmp_path / "onnx.csv")]) == 0
    assert (run / "best.onnx").exists()  # exported there on first use
    rows = [list(csv.DictReader(open(tmp_path / f"{name}.csv"))) for name in ("torch", "onnx")]
    assert [row["class"] for row in rows[0]] == [row["class"] for row in rows[1]] and len(rows[0]) == 3
    for a, b in zip(*rows, strict=True):
        assert float(a["probability"]) == pytest.approx(float(b["probability"]), abs=1e-3)


def test_a_run_on_feature_vectors_is_refused_in_one_line(tmp_path, capsys):
    folder = make_run(tmp_path / "dense", "dense", (12,), {"units": (8,)}, data="digits", classes=list("abc"))
    assert main(["predict", str(folder), str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "takes feature vectors" in error and error.count("\n") == 1
