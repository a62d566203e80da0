"""Whole runs: the scripts' command line, run folders, kill-and-resume, the README's example."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from deap_cnn import Genome
from deap_cnn.families.cnn_ga.network import build_network
from deap_cnn.runs.config import SearchConfig
from deap_cnn.runs.folder import RunFolderError
from deap_cnn.runs.runner import run_search
from deap_cnn.training.models import load_network, save_network

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "--population", "4",
    "--generations", "4",
    "--epochs", "1",
    "--max-batches", "3",
    "--widths", "4", "8",
    "--max-skip-units", "3",
    "--final-epochs", "0",
    "--seed", "3",
]  # fmt: skip


def environment():
    env = dict(os.environ, PYTHONPATH=str(ROOT), DEAP_CNN_DEVICE="cpu", DEAP_CNN_LOCAL_WORKERS="2")
    env.pop("DEAP_CNN_WORKER_INDEX", None)
    return env


def cli(*args, **kwargs):
    return [sys.executable, str(ROOT / "benchmarks" / "sample.py"), *args]


def rows(folder):
    with sqlite3.connect(Path(folder) / "results.sqlite") as db:
        return db.execute("SELECT genome, fitness, worker FROM evaluations ORDER BY id").fetchall()


def count_rows(folder):
    try:
        with sqlite3.connect(Path(folder) / "results.sqlite", timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_run_search_writes_every_artifact(tmp_path):
    config = SearchConfig(
        out=str(tmp_path / "run"),
        population=4,
        generations=1,
        epochs=1,
        max_batches=3,
        widths=(4, 8),
        max_skip_units=3,
        final_epochs=1,
        device="cpu",
    )
    summary = run_search(config, map_function=map, verbose=False)
    folder = tmp_path / "run"
    for name in (
        "config.json",
        "results.sqlite",
        "checkpoint.json",
        "logbook.csv",
        "fitness.png",
        "best.json",
        "best.pt",
    ):
        assert (folder / name).stat().st_size > 0, name
    best = json.loads((folder / "best.json").read_text())
    assert best["genome"] == summary["genome"] and 0.0 <= best["test_accuracy"] <= 1.0
    assert best["evaluations"] == len(rows(folder))
    model = load_network(folder / "best.pt")
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert (folder / "logbook.csv").read_text().splitlines()[0].startswith("gen,nevals,cache_hits")
    with pytest.raises(RunFolderError, match="already holds a run"):
        run_search(config, map_function=map, verbose=False)


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(RunFolderError, match="nothing to resume"):
        run_search(SearchConfig(out=str(tmp_path / "empty")), resume=True, verbose=False)


def test_saved_network_loads_back_with_the_same_weights(tmp_path):
    genome = Genome.from_string("S8-Pmean-S4")
    model = build_network(genome, (3, 16, 16), 5)
    save_network(model, tmp_path / "net.pt", genome, (3, 16, 16), 5, test_accuracy=0.5)
    loaded = load_network(tmp_path / "net.json")
    assert json.loads((tmp_path / "net.json").read_text())["genome"] == "S8-Pmean-S4"
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_offline_without_data_names_both_ways_out(tmp_path):
    script = ROOT / "benchmarks" / "cifar10.py"
    done = subprocess.run(
        [sys.executable, str(script), "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=120,
    )
    assert done.returncode != 0
    assert "--data-dir" in done.stderr and "internet" in done.stderr
    assert "Traceback" not in done.stderr


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    done = subprocess.run(
        cli("--out", str(reference), *TINY), capture_output=True, text=True, env=environment(), timeout=300
    )
    assert done.returncode == 0, done.stderr
    total = len(rows(reference))

    process = subprocess.Popen(
        cli("--out", str(interrupted), *TINY), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment()
    )
    deadline = time.monotonic() + 240
    # Kill once the first generation is done and the second is under way.
    while count_rows(interrupted) < 6 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed; give it more generations"
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = rows(interrupted)
    assert 6 <= len(before) < total

    done = subprocess.run(
        cli("--out", str(interrupted), "--resume", *TINY),
        capture_output=True,
        text=True,
        env=environment(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    after = rows(interrupted)
    # Nothing lost: every row written before the kill is still there, first, unchanged.
    assert after[: len(before)] == before
    # Nothing repeated, nothing missing: the same evaluations as the uninterrupted run, each once.
    assert sorted((g, f) for g, f, _ in after) == sorted((g, f) for g, f, _ in rows(reference))
    assert len({worker for _, _, worker in after}) == 2  # the killed process and the resumed one
    best = [json.loads((folder / "best.json").read_text())["genome"] for folder in (reference, interrupted)]
    assert best[0] == best[1]


def test_readme_example_runs_under_scoop(tmp_path):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = next(block for block in blocks if "creator.create" in block and "futures.map" in block)
    script = tmp_path / "my_search.py"
    script.write_text(example)
    done = subprocess.run(
        [sys.executable, "-m", "scoop", "-n", "2", str(script)],
        capture_output=True,
        text=True,
        env=environment(),
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r"best: (\S+) \(([0-9.]+),\)", done.stdout)
    assert match, done.stdout[-2000:]
    assert Genome.from_string(match.group(1)) and 0.0 < float(match.group(2)) <= 1.0
