"""``deap-cnn``: every family under every strategy that makes sense, resume, best, errors, a user's own family."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from deap_cnn.families import (
    Family,
    GenomeError,
    GenomeRules,
    get_family,
    register_family,
)
from deap_cnn.runs.cli import main
from deap_cnn.training.models import load_network

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--population", "2", "--generations", "1", "--epochs", "1", "--max-batches", "2", "--final-epochs", "0"]

#: Every family x strategy pair that makes sense, at a tiny size (TPE needs the family's Optuna encoding).
PAIRS = [
    ("cnn-ga", "ga", ["--widths", "4", "8", "--max-skip-units", "2"]),
    ("cnn-ga", "nsga2", ["--widths", "4", "8", "--max-skip-units", "2", "--objectives", "accuracy", "parameters"]),
    ("cnn-ga", "random", ["--widths", "4", "8", "--max-skip-units", "2"]),
    ("cnn-ga", "tpe", ["--widths", "4", "8", "--max-skip-units", "2"]),
    ("cnn-ga", "ga", ["--widths", "4", "8", "--max-skip-units", "2", "--halving", "--epochs", "2"]),
    ("cnn-ga", "random", ["--widths", "4", "8", "--max-skip-units", "2", "--halving", "--epochs", "2"]),
    (
        "cnn-ga",
        "ga",
        ["--widths", "4", "8", "--max-skip-units", "2", "--halving", "--halving-continue", "--epochs", "3"],
    ),
    ("cnn-ga", "ga", ["--hyper", "--widths", "4", "8", "--max-skip-units", "2"]),
    ("cnn-ga", "random", ["--hyper", "--widths", "4", "8", "--max-skip-units", "2"]),
    ("cnn-ga", "aging", ["--widths", "4", "8", "--max-skip-units", "2"]),
    ("cnn-ga", "aging", ["--inherit", "--widths", "4", "8", "--max-skip-units", "2", "--sample-size", "2"]),
    ("cnn-ga", "ga", ["--inherit", "--widths", "4", "8", "--max-skip-units", "2"]),
    ("devol", "ga", ["--widths", "4", "8", "--units", "8"]),
    ("devol", "aging", ["--widths", "4", "8", "--units", "8"]),
    ("devol", "aging", ["--inherit", "--widths", "4", "8", "--units", "8"]),
    ("devol", "ga", ["--inherit", "--widths", "4", "8", "--units", "8"]),
    ("devol", "nsga2", ["--widths", "4", "8", "--units", "8", "--objectives", "accuracy", "flops"]),
    ("devol", "random", ["--widths", "4", "8", "--units", "8"]),
    ("devol", "ga", ["--hyper", "--widths", "4", "8", "--units", "8"]),
    ("dense", "ga", ["--data", "digits", "--units", "8", "16"]),
    ("dense", "nsga2", ["--data", "digits", "--units", "8", "16", "--objectives", "accuracy", "parameters"]),
    ("dense", "random", ["--data", "digits", "--units", "8", "16"]),
    ("dense", "aging", ["--data", "digits", "--units", "8", "16", "--inherit"]),
    ("transfer", "ga", ["--backbone", "resnet18", "--allow-random"]),
    ("transfer", "random", ["--backbone", "resnet18", "--allow-random"]),
    ("transfer", "aging", ["--backbone", "resnet18", "--allow-random"]),
]


def run_cli(*args) -> int:
    return main(list(map(str, args)))


def evaluations(folder) -> list:
    with sqlite3.connect(Path(folder) / "results.sqlite") as db:
        return db.execute("SELECT genome, fitness FROM evaluations ORDER BY id").fetchall()


@pytest.fixture(autouse=True)
def cpu_only(monkeypatch, tmp_path):
    monkeypatch.setenv("DEAP_CNN_DEVICE", "cpu")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-hub"))  # no pretrained weights to find


@pytest.mark.parametrize("family, strategy, extra", PAIRS, ids=lambda v: v if isinstance(v, str) else "-".join(v)[:40])
def test_every_family_runs_under_every_sensible_strategy(tmp_path, family, strategy, extra):
    out = tmp_path / "run"
    assert run_cli("search", "--family", family, "--strategy", strategy, *TINY, *extra, "--out", out) == 0
    best = json.loads((out / "best.json").read_text())
    expected = f"{family}+hyper" if "--hyper" in extra else family
    assert best["family"] == expected and best["strategy"] == strategy
    get_family(expected).space(best["input_shape"], best["n_classes"], best["family_options"]).validate(best["genome"])
    stored = evaluations(out)
    assert stored and best["genome"] in {genome for genome, _ in stored} | {
        row["genome"] for row in best.get("front", [])
    }
    for name in ("config.json", "status.json", "logbook.csv"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "status.json").read_text())["state"] == "finished"
    if strategy == "nsga2":
        assert (out / "front.png").exists() and len(best["fitness"]) == 2


@pytest.mark.parametrize("family, extra", [("cnn-ga", ["--widths", "4", "8"]), ("devol", ["--widths", "4"])])
def test_resume_continues_to_the_uninterrupted_result(tmp_path, family, extra):
    common = ["search", "--family", family, *TINY, *extra, "--population", "3", "--seed", "5"]
    assert run_cli(*common, "--generations", "2", "--out", tmp_path / "whole") == 0
    assert run_cli(*common, "--generations", "1", "--out", tmp_path / "part") == 0
    assert run_cli("resume", tmp_path / "part", "--generations", "2") == 0
    whole, part = (json.loads((tmp_path / name / "best.json").read_text()) for name in ("whole", "part"))
    assert part["genome"] == whole["genome"] and part["fitness"] == whole["fitness"]
    assert sorted(evaluations(tmp_path / "part")) == sorted(evaluations(tmp_path / "whole"))


def test_search_refuses_a_folder_that_holds_a_run_and_resume_says_what_it_keeps(tmp_path, capsys):
    args = ["search", *TINY, "--widths", "4", "--max-skip-units", "2", "--out", tmp_path / "run"]
    assert run_cli(*args) == 0
    assert run_cli(*args) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert run_cli(*args[:-2], "--epochs", "3", "--out", tmp_path / "run", "--resume") == 0
    assert "epochs=3" in capsys.readouterr().out  # named as ignored: the saved 1 is kept


def test_best_prints_and_exports_a_loadable_network(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["search", "--family", "devol", *TINY[:-2], "--final-epochs", "1", "--widths", "4", "--units", "8"]
    assert run_cli(*args, "--out", out) == 0
    capsys.readouterr()
    assert run_cli("best", out, "--export", tmp_path / "winner.pt") == 0
    printed = capsys.readouterr().out
    best = json.loads((out / "best.json").read_text())
    assert best["genome"] in printed and "test accuracy" in printed
    model = load_network(tmp_path / "winner.pt")
    assert isinstance(model, nn.Module) and model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_the_default_strategy_is_aging_evolution_nsga2_for_several_objectives_and_ga_with_halving():
    from deap_cnn.runs.config import SearchConfig

    assert SearchConfig().check().strategy == "aging"
    assert SearchConfig(objectives=("accuracy", "parameters")).check().strategy == "nsga2"
    assert SearchConfig(halving=True).check().strategy == "ga"
    assert SearchConfig(strategy="random", halving=True).check().strategy == "random"  # a named one is kept


def test_a_minimised_objective_runs_through_halving_rerank_store_and_report(tmp_path):
    from deap_cnn.runs.report import best_evaluation, read_run

    out = tmp_path / "run"
    args = ["search", "--objectives", "loss", "--halving", *TINY[:-2], "--epochs", "2", "--final-epochs", "0"]
    assert run_cli(*args, "--population", "3", "--widths", "4", "8", "--rerank", "2", "--out", out) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["strategy"] == "ga" and best["objectives"] == ["loss"] and best["directions"] == ["minimise"]
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT fitness, val_loss, epochs FROM evaluations WHERE status = 'ok'").fetchall()
        settings = dict(db.execute("SELECT key, value FROM settings").fetchall())
    assert rows and all(json.loads(f) == [min(json.loads(losses))] for f, losses, _ in rows)  # the lowest loss
    assert {epochs for _, _, epochs in rows} == {1, 2}  # both rungs, scored alike
    assert json.loads(settings["objectives"]) == ["loss"] and json.loads(settings["directions"]) == ["minimise"]
    reranked = [row["rerank_fitness"] for row in best["rerank"]]
    assert reranked == sorted(reranked)  # lowest loss first
    run = read_run(out)
    assert run.directions == ["minimise"] and run.sign == -1.0
    lowest = min(row["fitness_values"][0] for row in run.evaluations if row["status"] == "ok")
    assert best_evaluation(run.evaluations, sign=run.sign)["fitness_values"][0] == lowest


@pytest.mark.parametrize("strategy, extra", [("aging", ["--inherit", "--trainings", "6"]), ("random", [])])
def test_rerank_retrains_the_best_distinct_genomes_and_the_final_training_takes_its_pick(tmp_path, strategy, extra):
    out = tmp_path / "run"
    args = ["search", "--strategy", strategy, *TINY[:-2], "--final-epochs", "1", "--population", "3", *extra]
    assert run_cli(*args, "--widths", "4", "8", "--rerank", "2", "--out", out) == 0
    best = json.loads((out / "best.json").read_text())
    reranked = best["rerank"]
    assert best["rerank_epochs"] == 2 and len(reranked) == 2
    assert len({row["genome"] for row in reranked}) == 2  # distinct genomes
    searched = {}
    for genome, fitness in evaluations(out):
        searched[genome] = max(searched.get(genome, 0.0), json.loads(fitness)[0])
    top = sorted(searched.values(), reverse=True)[:2]
    assert sorted(row["search_fitness"] for row in reranked) == sorted(top)  # the search's two best
    assert [row["rerank_fitness"] for row in reranked] == sorted((row["rerank_fitness"] for row in reranked),
                                                                reverse=True)  # fmt: skip
    assert best["genome"] == reranked[0]["genome"] and best["validation_fitness"] == reranked[0]["search_fitness"]
    assert best["test_accuracy"] > 0 and load_network(out / "best.pt") is not None


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["search", "--family", "nope"], 2, "unknown family 'nope': choose one of cnn-ga"),
        (["search", "--strategy", "nope"], 2, "unknown strategy 'nope'"),
        (["search", "--family", "devol", "--strategy", "tpe"], 2, "use --strategy random or ga"),
        (["search", "--strategy", "nsga2"], 2, "needs several objectives"),
        (["search", "--strategy", "aging", "--objectives", "accuracy", "flops"], 2, "use --strategy nsga2"),
        (["search", "--strategy", "nsga2", "--objectives", "accuracy", "parameters", "--halving"], 2, "halving"),
        (["search", "--family", "dense"], 1, "use --data digits"),
        (["search", "--data", "digits"], 1, "use --family dense"),
        (["search", "--population", "0"], 2, "--population 0: out of range, accepted: >= 1"),
        (["search", "--objectives", "parameters", "accuracy"], 2, "the first, parameters, is a size"),
        (["search", "--objectives", "depth"], 2, "--objectives: unknown objective 'depth': choose from accuracy"),
        (["search", "--objectives", "loss", "loss"], 2, "loss named twice; name each objective once"),
        (["search", "--family", "transfer", "--backbone", "resnet18"], 1, "--allow-random"),
        (["search", "--strategy", "random", "--inherit"], 2, "--inherit works with --strategy ga or aging"),
        (["search", "--inherit", "--halving"], 2, "--inherit and --halving together"),
        (["search", "--halving-continue"], 2, "add --halving"),
        (
            ["search", "--strategy", "aging", "--halving", "--halving-continue"],
            2,
            "--halving-continue works with the generational strategies",
        ),
        (["search", "--strategy", "aging", "--sample-size", "0"], 2, "--sample-size 0: out of range"),
        (
            ["search", "--strategy", "nsga2", "--objectives", "accuracy", "parameters", "--rerank", "2"],
            2,
            "several --objectives make a Pareto front: drop --rerank",
        ),
        (["search", "--rerank", "-1"], 2, "--rerank -1: out of range, accepted: >= 0"),
        (["search", "--rerank", "2", "--rerank-epochs", "0"], 2, "--rerank-epochs 0: out of range"),
        (["resume", "nowhere"], 1, "nothing to resume in nowhere"),
        (["best", "nowhere"], 1, "holds no best.json"),
    ],
)
def test_errors_are_one_line_with_the_fix(tmp_path, capsys, monkeypatch, args, status, message):
    monkeypatch.chdir(tmp_path)  # restored after the test: the next test on this worker keeps its own cwd
    if args[0] == "search":  # tiny defaults first, so that the bad option given last is the one that counts
        args = ["search", *TINY, "--widths", "4", "--out", tmp_path / "x", *args[1:]]
    assert run_cli(*args) == status
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err, err


# --- a user's own family, registered and run end to end ---------------------------------------------


class ToyGenome(list):
    """Conv widths, e.g. ``"c4-c8"``."""

    @classmethod
    def from_string(cls, text):
        try:
            return cls(int(token[1:]) for token in text.split("-") if token.startswith("c"))
        except ValueError:
            raise GenomeError(f"a toy genome reads like 'c4-c8', got {text!r}") from None

    def __str__(self):
        return "-".join(f"c{width}" for width in self)


@dataclass(frozen=True)
class ToySpace(GenomeRules):
    input_shape: tuple
    n_classes: int
    widths: tuple = (4, 8)
    genome_class = ToyGenome

    def violations(self, genome):
        return [f"width {w} not in {self.widths}" for w in genome if w not in self.widths] + (
            ["no layers"] if not genome else []
        )


def init_toy(container, space, rng=random):
    return container(rng.choice(space.widths) for _ in range(rng.randint(1, 3)))


def cx_toy(ind1, ind2, space, rng=random):
    ind1[:], ind2[:] = ind2[:], ind1[:]
    return ind1, ind2


def mut_toy(individual, space, rng=random):
    individual[rng.randrange(len(individual))] = rng.choice(space.widths)
    return (individual,)


def build_toy(genome, input_shape, n_classes):
    layers, channels = [], input_shape[0]
    for width in genome:
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
        channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes))


def test_a_custom_family_registers_and_runs_end_to_end(tmp_path):
    register_family(
        Family(
            name="toy",
            genome_class=ToyGenome,
            make_space=lambda shape, classes, options: ToySpace(shape, classes),
            init=init_toy,
            mate=cx_toy,
            mutate=mut_toy,
            builder=f"{__name__}:build_toy",
            description="a test's own family",
        ),
        replace=True,
    )
    for strategy in ("ga", "random"):
        out = tmp_path / strategy
        assert run_cli("search", "--family", "toy", "--strategy", strategy, *TINY, "--out", out) == 0
        best = json.loads((out / "best.json").read_text())
        assert best["family"] == "toy" and ToySpace((1, 28, 28), 10).is_valid(ToyGenome.from_string(best["genome"]))


def test_python_dash_m_and_the_console_script_run_a_family(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), DEAP_CNN_DEVICE="cpu")
    for command in ([sys.executable, "-m", "deap_cnn"], [str(Path(sys.executable).with_name("deap-cnn"))]):
        listed = subprocess.run([*command, "families"], capture_output=True, text=True, env=env, timeout=120)
        assert listed.returncode == 0 and "devol" in listed.stdout, listed.stderr
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "deap_cnn", "search", "--family", "dense", "--data", "digits", *TINY, "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "best architecture" in done.stdout


def test_a_preset_script_runs_another_family_and_strategy_under_scoop(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), DEAP_CNN_DEVICE="cpu", DEAP_CNN_LOCAL_WORKERS="2")
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "scoop", "-n", "2", str(ROOT / "benchmarks" / "sample.py"), "--family", "devol",
         "--strategy", "nsga2", "--objectives", "accuracy", "parameters", *TINY, "--widths", "4", "--units", "8",
         "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]  # SCOOP prints even SystemExit(0) as one
    workers = {row[0] for row in sqlite3.connect(out / "results.sqlite").execute("SELECT worker FROM evaluations")}
    assert json.loads((out / "best.json").read_text())["family"] == "devol" and workers
