"""The measurement benchmarks: the fidelity study and the search-quality comparison run, report, and fail cleanly."""

import importlib
import json
import math
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def bench():
    """The benchmark scripts as modules (benchmarks/ is not a package)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield SimpleNamespace(
            fidelity=importlib.import_module("fidelity"),
            quality=importlib.import_module("search_quality"),
            subsets=importlib.import_module("subsets"),
        )
    finally:
        sys.path.remove(str(BENCHMARKS))


def run_script(name, *args, cwd, timeout=600):
    env = dict(os.environ, DEAP_CNN_DEVICE="cpu", MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args], check=False, capture_output=True, text=True, env=env, cwd=cwd,
        timeout=timeout,
    )  # fmt: skip


# --- subsets ---------------------------------------------------------------------------


def write_idx(folder: Path, images: np.ndarray, labels: np.ndarray, prefix: str):
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
        np.array([0x803, n, h, w], dtype=">i4").tobytes() + images.astype(np.uint8).tobytes()
    )
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
        np.array([0x801, n], dtype=">i4").tobytes() + labels.astype(np.uint8).tobytes()
    )


def test_subset_is_stratified_seeded_and_keeps_the_test_set(bench, tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 30)
    write_idx(tmp_path / "idx", rng.integers(0, 256, (300, 8, 8)), labels, "train")
    write_idx(tmp_path / "idx", rng.integers(0, 256, (50, 8, 8)), np.arange(50) % 10, "t10k")
    first = bench.subsets.fashion_mnist_subset(100, seed=3, folder=tmp_path / "idx", cache=tmp_path / "cache")
    data = first.load()
    assert np.bincount(data.y_train.numpy()).tolist() == [10] * 10
    assert len(data.y_test) == 50  # the test set stays whole
    again = np.load(bench.subsets.fashion_mnist_subset(100, 3, tmp_path / "idx", tmp_path / "rebuilt").name)
    assert np.array_equal(again["x_train"].reshape(100, -1), data.x_train.numpy().reshape(100, -1))
    other = np.load(bench.subsets.fashion_mnist_subset(100, 4, tmp_path / "idx", tmp_path / "cache").name)
    assert not np.array_equal(other["x_train"].reshape(100, -1), data.x_train.numpy().reshape(100, -1))


@pytest.mark.parametrize("size", [-10, 15])
def test_subset_size_must_be_a_positive_multiple_of_ten(bench, tmp_path, size):
    with pytest.raises(SystemExit, match="multiple of 10"):
        bench.subsets.fashion_mnist_subset(size, folder=tmp_path, cache=tmp_path)


def test_subset_of_a_missing_folder_says_how_to_install(bench, tmp_path):
    with pytest.raises(SystemExit, match="apt-get install dataset-fashion-mnist"):
        bench.subsets.fashion_mnist_subset(100, folder=tmp_path / "absent", cache=tmp_path)


# --- fidelity: scoring and ranking -------------------------------------------------------


def test_fidelity_fitness_kinds(bench):
    row = {"status": "ok", "val_accuracy": [0.5, 0.7, 0.6]}
    assert bench.fidelity.fitness_values(row, "best") == 0.7
    assert bench.fidelity.fitness_values(row, "last") == 0.6
    assert bench.fidelity.fitness_values(row, "mean2") == pytest.approx(0.65)
    assert bench.fidelity.fitness_values({"status": "nan", "val_accuracy": [0.9]}, "best") == 0.0


def test_fidelity_tau_needs_three_shared_genomes(bench):
    assert bench.fidelity.tau({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}) == pytest.approx(1.0)
    assert bench.fidelity.tau({"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 2, "c": 1}) == pytest.approx(-1.0)
    assert math.isnan(bench.fidelity.tau({"a": 1, "b": 2}, {"a": 1, "b": 2}))


def test_fidelity_report_of_a_first_version_run(bench):
    rows = [
        {"variant": "reference", "seed": 1000, "genome": g, "status": "ok", "val_accuracy": [0.1, acc, acc],
         "val_images": 400, "epochs": 3, "compute": 3e9, "seconds": 3.0}
        for g, acc in (("A", 0.9), ("B", 0.8), ("C", 0.7), ("D", 0.6))
    ] + [
        {"variant": "e1-b128", "seed": seed, "genome": g, "status": "ok", "val_accuracy": [acc],
         "val_images": 200, "epochs": 1, "compute": 1e9, "seconds": 1.0}
        for seed in (0, 1)
        for g, acc in (("A", 0.5), ("B", 0.4), ("C", 0.3))  # D not trained short yet
    ]  # fmt: skip
    text, table = bench.fidelity.report(rows, reference_last=2)
    (row,) = table
    assert row["genomes"] == 3 and row["tau"] == pytest.approx(1.0) and row["seed_tau"] == pytest.approx(1.0)
    assert row["top_overlap"] == pytest.approx(1.0) and row["top_count"] == 2
    assert "e1-b128" in text and "1.00 ± 0.00" in text and "mean of the last 2 validation" in text


def test_fidelity_top_overlap_takes_the_top_tenth_at_least_two(bench):
    assert [bench.fidelity.top_count(n) for n in (3, 10, 20, 21, 30)] == [2, 2, 2, 3, 3]
    reference = {g: float(i) for i, g in enumerate("ABCDEFGHIJ")}  # J best, then I
    assert bench.fidelity.top_overlap(reference, reference) == 1.0
    assert bench.fidelity.top_overlap({**reference, "I": -1.0}, reference) == 0.5  # H replaces I
    assert bench.fidelity.top_overlap({g: -v for g, v in reference.items()}, reference) == 0.0
    assert math.isnan(bench.fidelity.top_overlap({"A": 1, "B": 2}, {"A": 1, "B": 2}))


def test_fidelity_report_ranks_size_and_proxies_against_the_retraining(bench):
    genomes = [f"G{i}" for i in range(10)]
    rows = [
        {"variant": "reference", "seed": 1000, "genome": g, "status": "ok", "test_accuracy": 0.5 + i / 100,
         "test_images": 10000, "epochs": 6, "flops": 2e6 * (10 - i), "compute": 1e10, "seconds": 10.0}
        for i, g in enumerate(genomes)
    ] + [
        {"variant": "e1", "seed": 0, "genome": g, "status": "ok", "val_accuracy": [0.4 + i / 100],
         "val_images": 200, "epochs": 1, "flops": 2e6 * (10 - i), "compute": 1e9, "seconds": 1.0}
        for i, g in enumerate(genomes)
    ] + [
        {"variant": "proxy:synflow", "seed": 0, "genome": g, "status": "ok", "score": -float(i), "compute": 0.0,
         "seconds": 0.5}
        for i, g in enumerate(genomes)
    ]  # fmt: skip
    text, table = bench.fidelity.report(rows)
    by_name = {row["variant"]: row for row in table}
    assert list(by_name) == ["e1", "size", "proxy:synflow", "proxy:synflow+e1"]
    assert by_name["e1"]["tau"] == pytest.approx(1.0) and by_name["e1"]["top_overlap"] == 1.0
    assert by_name["size"]["tau"] == pytest.approx(-1.0) and by_name["size"]["top_overlap"] == 0.0
    assert by_name["proxy:synflow"]["tau"] == pytest.approx(-1.0)
    assert by_name["proxy:synflow+e1"]["seconds"] == pytest.approx(1.5)  # ranks tie: the mean rank is constant
    assert "test accuracy after retraining" in text and "top-2 overlap" in text


def test_fidelity_reference_with_another_seed_is_its_ceiling(bench):
    rows = [
        {"variant": "reference", "seed": seed, "genome": g, "status": "ok", "test_accuracy": acc, "test_images": 359,
         "epochs": 10, "compute": 1e9, "seconds": 3.0}
        for seed, order in ((1000, "ABCD"), (1001, "ABDC"))
        for g, acc in zip(order, (0.9, 0.8, 0.7, 0.6), strict=True)
    ]  # fmt: skip
    text, table = bench.fidelity.report(rows)
    (row,) = table
    assert row["variant"] == "reference, other seed" and row["genomes"] == 4
    assert row["tau"] == pytest.approx(2 / 3) and "reference: 4 genomes" in text


def test_fidelity_names_its_setting_as_search_quality_flags(bench):
    args = bench.fidelity.build_parser().parse_args(["--train-size", "3000", "--lr", "0.2", "--widths", "16", "64"])
    flags = bench.fidelity.search_quality_flags(args)
    quality = bench.quality.build_parser().parse_args(flags.split())
    assert (quality.train_size, quality.lr, quality.widths, quality.final_epochs) == (3000, 0.2, [16, 64], 6)


def test_fidelity_digits_images_fit_a_cnn(bench, tmp_path):
    pytest.importorskip("sklearn")
    from deap_cnn.training.sources import load_data

    dataset = load_data(bench.subsets.digits_images(cache=tmp_path))
    assert dataset.input_shape == (1, 8, 8) and dataset.n_classes == 10
    assert (len(dataset.x_train), len(dataset.x_test)) == (1438, 359)


# --- search quality: budget, reach, methods ------------------------------------------


def test_meter_stops_at_the_first_training_after_the_budget(bench):
    meter = bench.quality.Meter(budget=10e9, images=100)
    record = SimpleNamespace(flops=2e7, epochs=2, seconds=1.5, status="ok", fitness=(0.5,), genome="S8")
    meter.check()
    meter.add(record)  # 1e7 multiply-adds x 100 images x 2 epochs = 2e9
    assert meter.compute == pytest.approx(2e9) and meter.seconds == pytest.approx(1.5)
    for _ in range(4):
        meter.check()
        meter.add(record)
    with pytest.raises(bench.quality.BudgetSpent):
        meter.check()
    failed = SimpleNamespace(flops=2e7, epochs=1, seconds=1.0, status="failed", fitness=(0.0,), genome="S8")
    meter.add(failed)
    assert meter.trace[-1][2] == 0.0


def test_meter_keeps_back_what_reranking_the_current_best_would_cost(bench):
    meter = bench.quality.Meter(budget=10e9, images=100, rerank_k=2, rerank_epochs=2)
    small = SimpleNamespace(flops=2e7, epochs=1, seconds=1.0, status="ok", fitness=(0.5,), genome="S8")
    large = SimpleNamespace(flops=6e7, epochs=1, seconds=1.0, status="ok", fitness=(0.7,), genome="S32")
    meter.check()
    meter.add(small)  # spent 1e9; reserve: S8 twice more for 2 epochs = 2e9
    assert meter.reserve() == pytest.approx(2e9)
    meter.check()
    meter.add(large)  # spent 4e9; reserve: S32 and S8 for 2 epochs = 6e9 + 2e9
    assert meter.top() == ["S32", "S8"] and meter.reserve() == pytest.approx(8e9)
    with pytest.raises(bench.quality.BudgetSpent):
        meter.check()  # 4e9 spent + 8e9 kept back is over 10e9
    meter.spend(large)  # reranking's own trainings cost compute but are not the search's trace
    assert meter.compute == pytest.approx(7e9) and len(meter.trace) == 2


def test_search_quality_warmup_charges_each_proxy_score_to_the_meter(bench):
    class Proxy:  # a ProxyEvaluator's record: its multiply-adds and seconds, the proxy as fitness
        def record(self, genome):
            status = "failed" if genome == "bad" else "ok"
            return types.SimpleNamespace(fitness=(float(len(genome)),), macs=1e6, seconds=0.5, status=status)

    meter = bench.quality.Meter(1e12, 100)
    assert bench.quality.proxy_score(Proxy(), meter, "S8-S16") == 6.0
    assert math.isnan(bench.quality.proxy_score(Proxy(), meter, "bad"))  # a failed score ranks last
    assert (meter.compute, meter.seconds) == (2e6, 1.0) and meter.trace == []  # charged, but not a training


def test_compute_to_reach_and_best_so_far(bench):
    trace = [[1.0, 1, 0.5], [2.0, 2, 0.7], [3.0, 3, 0.6]]
    assert bench.quality.compute_to_reach(trace, 0.6) == 2.0
    assert bench.quality.compute_to_reach(trace, 0.8) is None
    assert math.isnan(bench.quality.best_so_far(trace, 0.5))
    assert bench.quality.best_so_far(trace, 2.5) == 0.7


def test_methods_parse_and_unavailable_ones_are_skipped(bench):
    assert bench.quality.parse_method("ga+halving+inherit") == ("ga", True, True, False)
    assert bench.quality.parse_method("aging+inherit+rerank") == ("aging", False, True, True)
    assert bench.quality.parse_method("default") == ("aging", False, False, True)  # what deap-cnn search runs
    assert bench.quality.parse_method("planned+warmup") == ("aging", False, False, True)
    assert bench.quality.parse_method("aging+warmup+cheap") == ("aging", False, False, False)
    assert bench.quality.availability("aging+halving") is None  # asynchronous halving
    with pytest.raises(SystemExit, match="unknown method"):
        bench.quality.parse_method("ga+turbo")
    with pytest.raises(SystemExit, match="unknown method"):
        bench.quality.parse_method("hillclimb")
    assert bench.quality.availability("random+halving") is None
    assert [m for m in bench.quality.FULL_GRID if bench.quality.availability(m)] == []  # the whole grid runs here
    assert set(bench.quality.DEFAULT_METHODS) <= set(bench.quality.FULL_GRID)
    assert "inheritance" in bench.quality.availability("random+inherit")
    from deap_cnn.search.strategies import strategy_names

    if "aging" not in strategy_names():
        assert "not registered" in bench.quality.availability("aging")


def test_goals_compare_against_random_search(bench):
    runs = []
    for seed, (ga_val, ga_test, random_val, random_test) in enumerate([(0.8, 0.80, 0.7, 0.70), (0.8, 0.81, 0.7, 0.71)]):
        runs.append(
            {
                "method": "ga",
                "seed": seed,
                "best_val_accuracy": ga_val,
                "test_accuracy": ga_test,
                "compute": 10.0,
                "train_seconds": 1.0,
                "trace": [[3.0, 1, 0.75], [10.0, 2, ga_val]],
            }
        )
        runs.append({"method": "random", "seed": seed, "best_val_accuracy": random_val, "test_accuracy": random_test,
                     "compute": 10.0, "train_seconds": 1.0, "trace": [[5.0, 1, 0.6], [10.0, 2, random_val]]})  # fmt: skip
    table, figures = bench.quality.summarise(runs, budget=10.0)
    assert figures["target"] == pytest.approx(0.7)
    assert figures["methods"]["ga"]["reach"] == [3.0, 3.0]
    assert "30% of budget (2/2)" in table
    text = bench.quality.goals(figures, budget=10.0)
    assert "with <= 50% of the compute: yes; test accuracy higher by more than one sd: yes" in text


# --- the scripts end to end (quick modes) -----------------------------------------------


FIDELITY_ROW = re.compile(r"^(e\d|size)\s+(\w+)\s+(\d+) (-?\d\.\d\d)(?: ± \d\.\d\d)?\s+(\d\.\d\d)")


def fidelity_rows(stdout: str) -> dict:
    """(evaluator, fitness) -> (tau, top overlap) of a fidelity table."""
    found = (FIDELITY_ROW.match(line) for line in stdout.splitlines())
    return {(m[1], m[2]): (float(m[4]), float(m[5])) for m in found if m}


def check_fidelity_table(stdout: str):
    from deap_cnn.training.proxies import PROXIES

    rows = fidelity_rows(stdout)
    base = {("e1", "last"), ("e2", "best"), ("e2", "last"), ("size", "MACs")}
    proxies = {(f"proxy:{name}", "score") for name in PROXIES} | {(f"proxy:{name}+e1", "rank mean") for name in PROXIES}
    assert base <= set(rows) <= base | proxies, stdout[-3000:]  # every proxy alone and beside one epoch
    assert all(-1 <= tau <= 1 and 0 <= overlap <= 1 for tau, overlap in rows.values()), stdout[-3000:]
    return rows


@needs_fashion_mnist
def test_fidelity_quick_prints_taus_and_top_overlaps_and_resumes(tmp_path):
    done = run_script("fidelity.py", "--quick", "--out", str(tmp_path / "fid"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = check_fidelity_table(done.stdout)
    assert "as search_quality.py flags: --train-size 1000 --widths 4 8" in done.stdout
    lines = (tmp_path / "fid" / "trainings.jsonl").read_text().splitlines()
    from deap_cnn.training.proxies import PROXIES

    assert len(lines) == 6 * (1 + 2 + len(PROXIES))  # 6 genomes: reference, 1 and 2 epochs, each proxy
    assert all(f"\nproxy:{name} " in done.stdout for name in PROXIES)  # a row each in the table
    again = run_script("fidelity.py", "--quick", "--out", str(tmp_path / "fid"), cwd=tmp_path, timeout=300)
    assert again.returncode == 0 and "0 trainings to go" in again.stdout, again.stdout[-3000:]
    assert fidelity_rows(again.stdout) == rows
    assert len((tmp_path / "fid" / "trainings.jsonl").read_text().splitlines()) == len(lines)
    report = run_script("fidelity.py", "--report", str(tmp_path / "fid"), cwd=tmp_path, timeout=120)
    assert report.returncode == 0 and fidelity_rows(report.stdout) == rows


def test_fidelity_quick_on_digits_with_devol(tmp_path):
    pytest.importorskip("sklearn")
    done = run_script("fidelity.py", "--quick", "--data", "digits", "--family", "devol", "--out", str(tmp_path / "d"),
                      cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    check_fidelity_table(done.stdout)
    assert "fidelity of devol on digits-images" in done.stdout


@needs_fashion_mnist
def test_search_quality_quick_runs_to_budget_and_plots(tmp_path):
    out = tmp_path / "sq"
    done = run_script(
        "search_quality.py",
        "--quick",
        "--methods",
        "ga",
        "random",
        "aging",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    from deap_cnn.search.strategies import strategy_names

    methods = ["ga", "random"] + (["aging"] if "aging" in strategy_names() else [])
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert {(r["method"], r["seed"]) for r in runs} == {(m, s) for m in methods for s in (0, 1)}
    for run in runs:
        assert run["stopped"] == "budget" and run["compute"] >= run["budget"]
        assert run["compute"] - run["trace"][-2][0] > 0  # only the training that crossed the budget goes past it
        assert run["trace"][-2][0] < run["budget"]
        assert 0 < run["test_accuracy"] <= 1
    assert "reach random" in done.stdout and "goals" in done.stdout
    assert (out / "search_quality.png").stat().st_size > 0
    if "aging" not in strategy_names():
        assert "skipped: aging" in done.stdout


@needs_fashion_mnist
def test_search_quality_rerank_keeps_back_its_cost_and_picks_from_the_retrained(tmp_path, bench):
    out = tmp_path / "sq"
    done = run_script("search_quality.py", "--quick", "--methods", "random", "random+rerank", "--rerank", "2",
                      "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {(r["method"], r["seed"]): r for r in map(json.loads, (out / "runs.jsonl").read_text().splitlines())}
    for seed in (0, 1):
        plain, reranked = runs["random", seed], runs["random+rerank", seed]
        rows = reranked["reranked"]
        assert plain["reranked"] == [] and plain["best_genome"] == plain["search_best_genome"]
        assert 1 <= len(rows) <= 2 and len({row[0] for row in rows}) == len(rows)
        assert reranked["best_genome"] == rows[0][0]
        assert [row[1] for row in rows] == sorted((row[1] for row in rows), reverse=True)
        searched = {}
        for genome, accuracy in zip(reranked["trace_genomes"], (point[2] for point in reranked["trace"]), strict=True):
            searched[genome] = max(searched.get(genome, 0.0), accuracy)
        assert {row[0] for row in rows} == set(bench.quality.top_distinct(searched.items(), 2))
        # The search stopped early to leave the reranking's cost: fewer search trainings than plain random search.
        assert reranked["trainings"] <= plain["trainings"] and reranked["trace"][-1][0] < reranked["compute"]


# --- the tabular NAS benchmark ------------------------------------------------------------


@pytest.fixture(scope="module")
def nats_table(tmp_path_factory):
    """Every cell of NAS-Bench-201's space with a synthetic score: a smooth sum over the edges, one optimum."""
    from deap_cnn.families import get_family

    value = {"none": 0.0, "skip_connect": 1.0, "avg_pool_3x3": 1.2, "nor_conv_1x1": 2.0, "nor_conv_3x3": 2.5}
    space = get_family("nats").space((3, 32, 32), 10, {})
    path = tmp_path_factory.mktemp("table") / "cells.csv"
    rows = ["architecture,score"]
    for cell in space.all_genomes():
        score = 80 + sum(value[op] * (edge + 1) for edge, op in enumerate(cell)) / 2
        rows.append(f"{cell},{score:.4f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_nas_bench_runs_every_method_and_reports_the_picks_noise_free_scores(tmp_path, nats_table):
    out = tmp_path / "nb"
    done = run_script("nas_bench.py", "--table", str(nats_table), "--seeds", "3", "--queries", "20", "40",
                      "--noise", "0", "0.5", "--methods", "default", "random", "aging", "local", "ga",
                      "aging+halving", "--population", "6", "--jobs", "1", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    # Methods whose course does not depend on the budget run once at the largest; reranking ones once per budget.
    assert len(runs) == 2 * 3 * (5 + 2)
    scores = {line.split(",")[0]: float(line.split(",")[1]) for line in nats_table.read_text().splitlines()[1:]}
    for run in runs:
        for q, genome in run["pick_genomes"].items():
            assert run["picks"][q] == scores[genome]  # the pick's noise-free score is the table's own
        if run["noise"] == 0 and "curve" in run:
            assert run["curve"] == sorted(run["curve"])  # without noise the pick only improves
        assert run["queries"] <= run["budget"] + 1e-9
        for q, score in run["picks"].items():  # the pick is one of the genomes the search evaluated
            assert run["seen"][q] >= score - 1e-9
    noisy_default = [r for r in runs if r["method"] == "default" and r["noise"] == 0.5]
    assert noisy_default and all(r["budget"] in (20, 40) for r in noisy_default)
    table = (out / "table.txt").read_text()
    for method in ("default", "random", "aging", "local", "ga", "aging+halving"):
        assert f"\n{method} " in table
    assert "noise sd 0.5, 40 queries" in table and "optimum 106.25" in table and "seen" in table
    assert (out / "anytime.png").stat().st_size > 0
    again = run_script("nas_bench.py", "--report", str(out), cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.strip() == table.strip()


def test_nas_bench_resumes_a_partial_run_without_running_it_again(tmp_path, nats_table):
    out = tmp_path / "nb"
    args = ["--table", str(nats_table), "--seeds", "2", "--queries", "15", "--noise", "0", "--methods", "aging",
            "--population", "4", "--jobs", "1", "--out", str(out)]  # fmt: skip
    assert run_script("nas_bench.py", *args, cwd=tmp_path).returncode == 0
    first = (out / "runs.jsonl").read_text()
    again = run_script("nas_bench.py", *args, cwd=tmp_path)
    assert again.returncode == 0 and "0 runs to do" in again.stdout
    assert (out / "runs.jsonl").read_text() == first


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "--table is required"),
        (["--table", "absent.csv"], "cannot read table absent.csv"),
        (["--table", "TABLE", "--methods", "hillclimb"], "unknown method 'hillclimb'"),
        (["--table", "TABLE", "--seeds", "0"], "--seeds must be at least 1"),
    ],
)
def test_nas_bench_refuses_bad_input_in_one_line(tmp_path, nats_table, args, message):
    args = [str(nats_table) if arg == "TABLE" else arg for arg in args]
    done = run_script("nas_bench.py", *args, "--out", str(tmp_path / "nb"), cwd=tmp_path)
    assert done.returncode != 0 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nb").exists()
