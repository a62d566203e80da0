"""Measured latency: the measurement, the ``latency`` objective, the ``--max-latency`` constraint, the settings."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace

import pytest
from torch import nn

from deap_cnn.runs.cli import main
from deap_cnn.runs.config import ConfigError, SearchConfig
from deap_cnn.search.objectives import ObjectiveError, Objectives
from deap_cnn.training.latency import measure_latency
from deap_cnn.training.settings import TrainSettings

TINY = ["--population", "2", "--generations", "1", "--epochs", "1", "--max-batches", "2", "--final-epochs", "0"]


def test_latency_is_a_positive_median_and_leaves_the_model_as_it_was():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Dropout(0.5)).train()
    one = measure_latency(model, (1, 4, 4), batch=1, min_run_time=0.01)
    many = measure_latency(model, (1, 4, 4), batch=256, min_run_time=0.01)
    assert 0 < one and 0 < many and model.training
    with pytest.raises(ValueError, match="latency batch must be a whole number of at least 1"):
        measure_latency(model, (1, 4, 4), batch=0)


class FakeEvaluator:
    """Records with a given latency, as the evaluator's after a training."""

    def __init__(self, latency):
        self.latency = latency

    def record(self, genome):
        return SimpleNamespace(genome=genome, status="ok", error=None, val_accuracy=[0.5], latency_ms=self.latency)


def test_the_latency_objective_is_minimised_and_never_first():
    objectives = Objectives("accuracy", "latency")
    assert objectives.weights == (1.0, -1.0)
    assert objectives.wrap(FakeEvaluator(2.5)).record("g").fitness == (0.5, 2.5)
    with pytest.raises(ObjectiveError, match="the first, latency, is a size"):
        Objectives("latency", "accuracy")
    with pytest.raises(ObjectiveError, match="needs the record's latency_ms"):
        objectives.wrap(FakeEvaluator(None)).record("g")


def test_a_candidate_over_max_latency_is_infeasible_with_the_worst_fitness_and_says_why():
    limited = Objectives("accuracy", max_latency=3.0)
    fast, slow = limited.wrap(FakeEvaluator(2.0)).record("a"), limited.wrap(FakeEvaluator(4.0)).record("b")
    assert fast.status == "ok" and fast.fitness == (0.5,)
    assert slow.status == "too_slow" and slow.fitness == (0.0,) and "over the limit of 3 ms" in slow.error
    plain = Objectives("accuracy").wrap(FakeEvaluator(2.0))
    assert limited.wrap(FakeEvaluator(2.0)).fingerprint() != plain.fingerprint()  # a limit's store is its own
    with pytest.raises(ObjectiveError, match="max_latency must be a positive number"):
        Objectives("accuracy", max_latency=0)


def test_settings_without_latency_keep_their_fingerprint():
    import hashlib
    from dataclasses import asdict

    settings = asdict(TrainSettings())
    for unset in ("record_batches", "schedule_epochs", "latency_batch"):
        del settings[unset]
    before = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    assert TrainSettings().fingerprint() == before
    assert TrainSettings(latency_batch=1).fingerprint() != before


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"latency_batch": 4}, "--latency-batch sets how latency is measured, but nothing measures it"),
        ({"max_latency": 2.0, "lookup": "t.csv"}, "--max-latency: a --lookup table holds no measured latency"),
        ({"objectives": ("synflow", "latency"), "fitness": "synflow"}, "--fitness synflow trains none"),
        ({"max_latency": 0.0}, "--max-latency"),
    ],
)
def test_latency_settings_that_do_not_fit_are_one_line_each(values, fragment):
    with pytest.raises(ConfigError, match=fragment) as caught:
        SearchConfig(**values).check()
    assert "\n" not in str(caught.value)


def test_latency_settings_reach_the_training_settings():
    assert SearchConfig().check().train_settings().latency_batch is None
    assert SearchConfig(max_latency=5.0).check().train_settings().latency_batch == 1
    config = SearchConfig(objectives=("accuracy", "latency"), latency_batch=8).check()
    assert config.strategy == "nsga2" and config.train_settings().latency_batch == 8


def test_a_search_measures_stores_and_reports_latency_and_a_limit_makes_candidates_infeasible(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DEAP_CNN_DEVICE", "cpu")
    common = ["search", "--family", "devol", *TINY, "--widths", "4", "--units", "8"]
    out = tmp_path / "front"
    assert main([*common, "--objectives", "accuracy", "latency", "--out", str(out)]) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["objectives"] == ["accuracy", "latency"] and best["latency_ms"] == best["fitness"][1] > 0
    with sqlite3.connect(out / "results.sqlite") as db:
        latencies = [row[0] for row in db.execute("SELECT latency_ms FROM evaluations")]
    assert latencies and all(value > 0 for value in latencies)
    assert "latency ms" in (out / "report.html").read_text()
    limited = tmp_path / "limited"
    capsys.readouterr()
    assert main([*common, "--max-latency", "1e-6", "--out", str(limited)]) == 1
    with sqlite3.connect(limited / "results.sqlite") as db:
        rows = db.execute("SELECT status, error FROM evaluations").fetchall()
    assert {status for status, _ in rows} == {"too_slow"} and all("over the limit" in error for _, error in rows)
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: no candidate met --max-latency 1e-06 ms (the fastest of ")
    assert json.loads((limited / "status.json").read_text())["state"] == "failed"
