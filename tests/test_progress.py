"""Watching a run: per-candidate progress, the up-front time estimate, the report and TensorBoard after each generation."""

import io
import json
import sqlite3
from pathlib import Path

import pytest

from deap_cnn.runs.cli import main
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.progress import GenerationProgress

TINY = ["--population", "2", "--generations", "1", "--epochs", "1", "--max-batches", "2", "--final-epochs", "0",
        "--widths", "4", "8", "--max-skip-units", "2"]  # fmt: skip


@pytest.fixture(autouse=True)
def cpu_only(monkeypatch):
    monkeypatch.setenv("DEAP_CNN_DEVICE", "cpu")


def test_a_log_gets_one_line_per_finished_candidate():
    stream = io.StringIO()
    progress = GenerationProgress(3, [5.0, 1.0], workers=2, stream=stream, bar=False)
    progress.done(1, {"genome": "S4", "fitness": (0.5,), "status": "ok", "seconds": 1.25}, "host:1")
    progress.done(0, {"genome": "S8-Pmax", "fitness": (0.0,), "status": "oom", "seconds": 2.0})
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "generation 3 [1/2] S4: fitness 0.5 in 1.2 s on host:1",
        "generation 3 [2/2] S8-Pmax: fitness 0 (oom) in 2.0 s",
    ]


def test_a_terminal_bar_counts_done_running_and_waiting_weighted_by_cost():
    stream = io.StringIO()
    progress = GenerationProgress(0, [9.0, 1.0, 1.0], workers=2, stream=stream, bar=True)
    progress.done(0, {"genome": "S64", "fitness": (0.5,)})
    progress.close()
    text = stream.getvalue()
    assert "initial population" in text and "1/3 done, 2 running, 0 waiting" in text
    assert " 82%" in text  # 9 of 11 cost units: the large candidate counts for more


def test_a_duplicate_result_is_dropped_counted_and_logged(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite", fingerprint="f") as store:
        cache = EvaluationCache(store)
        record = {"genome": "S4", "fitness": (0.5,), "status": "ok"}
        assert cache.put("S4", record) is True
        assert cache.put("S4", dict(record)) is False
        assert cache.duplicates == 1 and len(store) == 1


def test_the_run_summary_counts_the_duplicates_of_the_logbook():
    from deap import tools

    from deap_cnn.runs.runner import duplicate_results

    logbook = tools.Logbook()
    logbook.record(gen=0, duplicates=0)
    logbook.record(gen=1, duplicates=2)
    logbook.record(gen=2)  # a strategy whose logbook has no such column
    assert duplicate_results(logbook) == 2


def test_a_run_logs_candidates_writes_its_report_each_generation_and_warns_of_slow_candidates(tmp_path, capsys):
    out = tmp_path / "run"
    # CNN-GA's loop: its progress is one bar per generation (aging's is one line per evaluation).
    assert main(["search", *TINY, "--strategy", "ga", "--out", str(out), "--candidate-limit", "0.000001"]) == 0
    captured = capsys.readouterr()
    assert "warning: the largest candidate of this space (S8-S8)" in captured.err
    assert "--widths, --max-skip-units" in captured.err and "--max-batches or --time-budget" in captured.err
    assert captured.err.count("initial population [") == 2 and captured.err.count("generation 1 [") <= 2
    header = (out / "logbook.csv").read_text().splitlines()[0]
    assert header.startswith("gen,nevals,cache_hits,failed,duplicates")
    page = (out / "report.html").read_text()
    rows = sqlite3.connect(out / "results.sqlite").execute("SELECT genome FROM evaluations").fetchall()
    assert all(genome in page for (genome,) in rows)
    assert json.loads((out / "status.json").read_text())["state"] == "finished"
    assert json.loads((out / "best.json").read_text())["duplicates"] == 0
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.html").stat().st_size > 0


def test_tensorboard_logging_writes_event_files(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    out = tmp_path / "run"
    assert main(["search", *TINY, "--out", str(out), "--tensorboard"]) == 0
    events = list(Path(out / "tensorboard").rglob("events.out.tfevents.*"))
    assert len(events) >= 2  # the curves, and at least one HParams row
