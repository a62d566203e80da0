"""Several fidelities: tables with one column per training length, budgets in epochs, and the search they size.

The tables are the tests' own: every cell of the ``nats`` space with a
synthetic long score (its edges' operations) and a short score *biased*
against convolutions, as a short training is against networks that learn
slowly, plus a hash term so that ties are rare.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deap_cnn.families import get_family
from deap_cnn.families.nats import CellGenome
from deap_cnn.lookup import LookupEvaluator, LookupSettings
from deap_cnn.lookup.evaluator import parse_fidelities
from deap_cnn.runs.cli import main
from deap_cnn.runs.config import ConfigError, SearchConfig
from deap_cnn.search.fidelity import MIN_POPULATION, plan_budget
from deap_cnn.search.rerank import rerank_evaluator

SPACE = get_family("nats").space((3, 32, 32), 10, {})
VALUE = {"none": 0.0, "skip_connect": 1.0, "avg_pool_3x3": 1.2, "nor_conv_1x1": 2.0, "nor_conv_3x3": 2.5}


def long_score(text: str) -> float:
    return 80 + sum(VALUE[op] * (edge + 1) for edge, op in enumerate(CellGenome.from_string(text))) / 2


def short_score(text: str) -> float:
    """The long score, less for every 3x3 convolution (slow learners), plus a hash term in [0, 0.5)."""
    jitter = int(hashlib.sha256(text.encode()).hexdigest()[:6], 16) % 500 / 1000
    return long_score(text) - 20 - 1.5 * text.count("nor_conv_3x3") + jitter


@pytest.fixture(scope="module")
def two_fidelity_table(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "fidelities.csv"
    rows = ["architecture,acc_12,acc_200,test_200"]
    for cell in map(str, SPACE.all_genomes()):
        rows.append(f"{cell},{short_score(cell):.4f},{long_score(cell):.4f},{long_score(cell) - 0.5:.4f}")
    path.write_text("\n".join(rows) + "\n")
    return path


FIDELITIES = ("12=acc_12", "200=acc_200")
CELL = str(CellGenome(["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "none", "avg_pool_3x3", "nor_conv_3x3"]))


def test_fidelities_parse_sorted_and_refuse_bad_text():
    assert parse_fidelities(["200=b", "12=a"]) == ((12, "a"), (200, "b"))
    assert parse_fidelities([(3, "c")]) == ((3, "c"),)
    for bad, message in (("12", "EPOCHS=COLUMN"), ("x=a", "not a whole number"), ("0=a", ">= 1"), ("12=", "COLUMN")):
        with pytest.raises(ValueError, match=message):
            parse_fidelities([bad])
    with pytest.raises(ValueError, match="given twice"):
        parse_fidelities(["12=a", "12=b"])


def test_an_evaluation_reads_its_fidelitys_column_and_reports_the_truth(two_fidelity_table):
    settings = LookupSettings(fidelities=FIDELITIES, epochs=12, truth="test_200")
    short = LookupEvaluator(two_fidelity_table, SPACE, settings)
    record = short.record(CellGenome.from_string(CELL))
    assert record.fitness == (pytest.approx(short_score(CELL), abs=1e-4),) and record.epochs == 12
    assert record.noise_free_fitness == pytest.approx(long_score(CELL) - 0.5, abs=1e-4)
    long = rerank_evaluator(short, 200)
    assert long.record(CellGenome.from_string(CELL)).fitness == (pytest.approx(long_score(CELL), abs=1e-4),)
    assert short.fingerprint() != long.fingerprint()  # the two fidelities never share a cache
    assert not short.deterministic  # a longer fidelity tells something new: reranking is worth it
    with pytest.raises(ValueError, match="no fidelity of 24 epochs: its fidelities are 12, 200"):
        rerank_evaluator(short, 24)


def test_one_column_settings_keep_their_fingerprint():
    # A results store of a run made before fidelities existed must still match its evaluator.
    assert LookupSettings().fingerprint() == "b5fc92a267f69b41"


def test_a_fidelity_column_the_table_lacks_is_named(two_fidelity_table):
    from deap_cnn.lookup import TableError

    with pytest.raises(TableError, match="no column 'acc_400'"):
        LookupEvaluator(two_fidelity_table, SPACE, LookupSettings(fidelities=("12=acc_12", "400=acc_400"), epochs=12))
    with pytest.raises(ValueError, match="either as column or as fidelities"):
        LookupSettings(column="acc_12", fidelities=FIDELITIES, epochs=12)


@given(
    budget=st.integers(1, 20_000),
    epochs=st.integers(1, 50),
    long=st.integers(1, 400),
    population=st.integers(1, 60),
)
def test_a_budget_plan_spends_at_most_the_budget(budget, epochs, long, population):
    if budget < epochs:
        with pytest.raises(ValueError, match="must pay for one evaluation"):
            plan_budget(budget, epochs, long, population)
        return
    plan = plan_budget(budget, epochs, long, population)
    assert plan.spent <= budget and plan.trainings >= 1
    assert plan.rerank == 0 or plan.rerank >= 2  # reranking one candidate would choose nothing
    assert plan.rerank * long <= budget / 3 + 1e-9
    assert plan.rerank == 0 or long > epochs
    assert plan.population <= max(population, MIN_POPULATION) and plan.population >= min(population, MIN_POPULATION)
    assert plan.population <= population
    free = plan_budget(budget, epochs, long)
    assert free.population == max(MIN_POPULATION, free.trainings // 4)


def test_a_budget_plan_follows_the_budget():
    assert (plan_budget(1800, 12, 200).trainings, plan_budget(1800, 12, 200).rerank) == (100, 3)
    assert plan_budget(900, 12, 200).rerank == 0  # one long evaluation would choose nothing
    assert plan_budget(3600, 12, 200).rerank == 6
    assert plan_budget(20, 1, 2).population == 4  # a search of 20 trainings is not a population of 20
    assert plan_budget(30, 1, 3, rerank=0).trainings == 30
    with pytest.raises(ValueError, match="pays for no search"):
        plan_budget(30, 1, 10, rerank=3)


def lookup_args(table, out, *extra):
    return ["search", "--family", "nats", "--lookup", str(table), *[a for f in FIDELITIES for a in ("--fidelity", f)],
            "--truth-column", "test_200", "--seed", "3", "--out", str(out), *extra]  # fmt: skip


def test_a_budgeted_search_charges_every_evaluation_and_picks_by_the_long_fidelity(two_fidelity_table, tmp_path):
    out = tmp_path / "run"
    assert main(lookup_args(two_fidelity_table, out, "--budget-epochs", "1200")) == 0
    plan = plan_budget(1200, 12, 200)
    with sqlite3.connect(out / "results.sqlite") as db:
        epochs = [row[0] for row in db.execute("SELECT epochs FROM evaluations")]
    assert epochs == [12] * plan.trainings
    best = json.loads((out / "best.json").read_text())
    reranked = best["rerank"]
    assert len(reranked) == plan.rerank == 2 and best["rerank_epochs"] == 200
    assert sum(epochs) + 200 * len(reranked) <= 1200
    assert best["genome"] == reranked[0]["genome"]
    assert reranked[0]["rerank_fitness"] == max(r["rerank_fitness"] for r in reranked)
    assert best["noise_free_fitness"] == pytest.approx(long_score(best["genome"]) - 0.5, abs=1e-4)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epochs", "5"], "--epochs 5: the table's fidelities are 12, 200 epochs"),
        (["--budget-epochs", "1200", "--trainings", "9"], "give --trainings or --budget-epochs"),
        (["--budget-epochs", "5"], "--budget-epochs: the budget (5 epochs) must pay for one evaluation"),
        (["--fidelity", "12=acc_200"], "given twice"),
        (["--lookup-column", "acc_12"], "drop --lookup-column"),
        (["--halving"], "--halving with --fidelity is not supported"),
    ],
)
def test_bad_fidelity_settings_stop_in_one_line(two_fidelity_table, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main(lookup_args(two_fidelity_table, out, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_fidelities_need_a_table():
    with pytest.raises(ConfigError, match="add --lookup"):
        SearchConfig(fidelity=FIDELITIES).check()
    with pytest.raises(ConfigError, match="generations"):
        SearchConfig(budget_epochs=100, strategy="ga").check()


def test_nas_bench_charges_epochs_and_judges_picks_by_the_truth_column(two_fidelity_table, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "nas_bench.py"
    out = tmp_path / "nb"
    args = [sys.executable, str(script), "--table", str(two_fidelity_table), "--truth-column", "test_200",
            *[a for f in FIDELITIES for a in ("--fidelity", f)], "--budget-epochs", "600", "1200", "--seeds", "2",
            "--noise", "0", "--methods", "default", "default+warmup", "random", "aging+rerank", "--jobs", "1",
            "--out", str(out)]  # fmt: skip
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    for run in runs:
        assert run["unit"] == "epochs" and run["queries"] <= run["budget"] + 1e-9  # every lookup charged its epochs
        for budget, genome in run["pick_genomes"].items():
            if genome is None:  # reranking 3 x 200 epochs leaves a 600-epoch search nothing: no pick
                assert run["method"] == "aging+rerank" and run["budget"] == 600
                continue
            assert run["picks"][budget] == pytest.approx(long_score(genome) - 0.5, abs=1e-4)  # the truth column
    planned = {r["budget"]: r for r in runs if r["method"] == "default"}
    assert planned[1200]["rerank"] == plan_budget(1200, 12, 200).rerank == 2
    assert planned[600]["rerank"] == 0 or planned[600]["rerank"] >= 2
    table = (out / "table.txt").read_text()
    assert "1200 epochs" in table and "\ndefault+warmup " in table
    # The short column is biased against 3x3 convolutions: reranking at 200 epochs finds better picks than
    # random search's best 12-epoch score, at the same epochs.
    mean = {m: sum(r["picks"]["1200"] for r in runs if r["method"] == m and "1200" in r["picks"]) for m in
            ("default", "random")}  # fmt: skip
    assert mean["default"] > mean["random"]


def test_prefer_cheaper_is_aging_evolutions():
    with pytest.raises(ConfigError, match="--prefer-cheaper chooses aging evolution's parents"):
        SearchConfig(prefer_cheaper=0.7, strategy="random").check()
    assert SearchConfig(prefer_cheaper=0.7).check().strategy == "aging"
    with pytest.raises(ConfigError, match="--prefer-cheaper 1.5: out of range"):
        SearchConfig(prefer_cheaper=1.5).check()
