"""Every runnable example the docs name (docs/families.md) still runs, at a small size."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

EXAMPLES = {
    "devol_sample.py": ["--population", "3", "--generations", "1"],
    "dense_digits.py": ["--population", "3", "--generations", "1"],
    "hyper_sample.py": ["--population", "3", "--generations", "1", "--epochs", "1", "--max-batches", "2"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), DEAP_CNN_DEVICE="cpu", MPLBACKEND="Agg")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), "--out", str(tmp_path / "run"), *EXAMPLES[name]],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best" in done.stdout.lower(), done.stdout[-2000:]
    assert (tmp_path / "run" / "results.sqlite").stat().st_size > 0
