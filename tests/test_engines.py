"""Engines: the contract on each engine, the same search on each, and lost workers.

The multi-process tests (SCOOP under ``python -m scoop``, Dask clusters) are
marked ``slow`` but run by default; every subprocess has a timeout.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deap_cnn.engines import DEFAULT_RESULT_TIMEOUT, RESULT_TIMEOUT_ENV, EngineError, LostWorkerError, make_engine
from deap_cnn.engines.serial import SerialEngine
from deap_cnn.engines.timeout import ResultTimeout, Timed, TimedFuture

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SEARCH_ARGS = [
    "--strategy",
    "ga",
    "--population",
    "4",
    "--generations",
    "1",
    "--epochs",
    "1",
    "--max-batches",
    "3",
    "--widths",
    "4",
    "8",
    "--max-skip-units",
    "3",
    "--final-epochs",
    "0",
    "--seed",
    "3",
]


def env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), "DEAP_CNN_DEVICE": "cpu", "DEAP_CNN_LOCAL_WORKERS": "2", **extra}


def run_group(command, timeout, **options):
    """``subprocess.run`` in a session of its own, whose every process is killed afterwards.

    SCOOP's launcher leaves its workers behind when it is killed on a timeout.
    """
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options
    )
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        kill_group(process)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    process.wait(timeout=30)


def square(x):
    return x * x


def slow_square(x):
    time.sleep(0.3 * (x % 3))
    return x * x


def distinct_individuals(n):
    """``n`` individuals (the conftest's creator type) with distinct genomes and no fitness."""
    import random

    from deap import creator

    from deap_cnn import SearchSpace, random_genome

    space = SearchSpace(input_shape=(1, 8, 8), n_classes=2, widths=(4, 8), max_skip_units=4)
    found, rng = {}, random.Random(0)
    while len(found) < n:
        genome = random_genome(space, rng)
        found.setdefault(str(genome), creator.Individual(genome))
    return list(found.values())


def fail_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x


# --- contract, serial ----------------------------------------------------------------


def test_serial_contract():
    with make_engine("serial") as engine:
        assert engine.map(square, range(5)) == [0, 1, 4, 9, 16]
        futures = [engine.submit(square, n) for n in (3, 4)]
        assert [f.result() for f in engine.as_completed(futures)] == [9, 16]
        with pytest.raises(ValueError, match="three"):
            engine.submit(fail_on_three, 3).result()
    assert engine.closed
    engine.close()  # idempotent
    assert isinstance(make_engine("auto"), SerialEngine)  # not under SCOOP


def test_unknown_engine_and_scoop_outside_scoop_name_the_fix():
    with pytest.raises(EngineError, match="choose 'serial'"):
        make_engine("mpi")
    with pytest.raises(EngineError, match="python -m scoop"):
        make_engine("scoop")


def test_engines_package_imports_neither_torch_nor_dask():
    code = (
        "import sys, deap_cnn.engines; print(sorted(m for m in ('torch', 'dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([PYTHON, "-c", code], env=env(), capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_lost_worker_error_keeps_completed_and_is_a_timeout():
    error = LostWorkerError("gone", completed={0: "a"}, missing=[1])
    assert isinstance(error, TimeoutError) and isinstance(error, EngineError)
    assert error.completed == {0: "a"} and error.missing == [1]


def test_evaluate_population_saves_completed_results_on_lost_worker(tmp_path):
    from deap import base

    from deap_cnn.runs.store import ResultsStore
    from deap_cnn.search.cache import EvaluationCache
    from deap_cnn.search.evaluation import evaluate_population

    def losing_map(func, items):
        items = list(items)
        raise LostWorkerError("lost", completed={0: func(items[0])}, missing=list(range(1, len(items))))

    toolbox = base.Toolbox()
    toolbox.register("evaluate", lambda genome: (float(len(str(genome))),))
    toolbox.register("map", losing_map)
    individuals = distinct_individuals(2)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        with pytest.raises(LostWorkerError):
            evaluate_population(individuals, toolbox, EvaluationCache(store), generation=0)
        assert [row["genome"] for row in store.records()] == [str(individuals[0])]


# --- contract, dask ------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_engine():
    pytest.importorskip("distributed")
    engine = make_engine("dask", n_workers=2)
    yield engine
    engine.close()


@pytest.mark.xdist_group("dask-engine")
@pytest.mark.slow
def test_dask_contract(dask_engine):
    assert dask_engine.workers == 2
    assert dask_engine.map(slow_square, range(6)) == [0, 1, 4, 9, 16, 25]
    futures = [dask_engine.submit(slow_square, n) for n in (2, 3)]
    finished = list(dask_engine.as_completed(futures))
    assert [f.result() for f in finished] == [9, 4]  # 3 sleeps 0 s, 2 sleeps 0.6 s
    with pytest.raises(ValueError, match="three"):
        dask_engine.map(fail_on_three, range(5))
    blocked = dask_engine.submit(time.sleep, 3)
    with pytest.raises(LostWorkerError, match="no evaluation result arrived"):
        list(dask_engine.as_completed([blocked], timeout=0.5))


def identity(value):
    return value


@pytest.mark.xdist_group("dask-engine")
@pytest.mark.slow
def test_dask_limit_follows_the_evaluations_of_map_and_submit(dask_engine):
    policy = dask_engine.timeout
    # The 2-minute floor, shrunk, though not so far that a loaded machine's first round trip looks like a loss.
    dask_engine.timeout = ResultTimeout(floor=30)
    try:
        assert dask_engine.map(square, range(4)) == [0, 1, 4, 9]
        assert 0 < dask_engine.timeout.slowest < 0.5  # timed on the workers, not the round trip
        assert dask_engine.result_timeout == 30
        [future] = dask_engine.as_completed([dask_engine.submit(slow_square, 2)])  # sleeps 0.6 s
        assert future.result() == 4 and dask_engine.timeout.slowest >= 0.6
        dask_engine.timeout = ResultTimeout(floor=1, factor=1)
        dask_engine.timeout.observe(0.1)
        with pytest.raises(LostWorkerError, match=r"limit was 1 s \(1 times the slowest evaluation") as lost:
            list(dask_engine.as_completed([dask_engine.submit(time.sleep, 3)]))
        assert [type(f) for f in lost.value.missing] == [TimedFuture]
        with pytest.raises(LostWorkerError, match="at least 1 s") as lost:
            dask_engine.map(time.sleep, [0, 3])
        assert 1 in lost.value.missing and sorted([*lost.value.completed, *lost.value.missing]) == [0, 1]
    finally:
        dask_engine.timeout = policy


@pytest.mark.slow
def test_dask_leaves_the_global_random_stream_to_the_search(dask_engine):
    # Lists longer than 10 make dask.sizeof sample with ``random``, in the client's event-loop
    # thread, after map has returned (the futures' release): the seeded search must not see it.
    random.seed(5)
    state = random.getstate()
    for _ in range(3):
        assert dask_engine.map(identity, [list(range(50))] * 24) == [list(range(50))] * 24
        time.sleep(0.3)
    assert random.getstate() == state


@pytest.mark.slow
def test_dask_close_is_idempotent():
    pytest.importorskip("distributed")
    engine = make_engine("dask", n_workers=1)
    engine.close()
    engine.close()
    assert engine.closed and engine.client.status == "closed"


# --- contract, SCOOP (needs python -m scoop) ------------------------------------------

SCOOP_CONTRACT = """
    import time
    from deap_cnn.engines import LostWorkerError, make_engine, current_scoop_or_serial
    from deap_cnn.engines.scoop_engine import ScoopEngine

    def slow_square(x):
        time.sleep(0.2 * (x % 3))
        return x * x

    if __name__ == "__main__":
        engine = make_engine("scoop", result_timeout=30)
        assert isinstance(current_scoop_or_serial(), ScoopEngine)
        assert engine.workers == 2, engine.workers
        assert engine.map(slow_square, range(7)) == [x * x for x in range(7)]
        futures = [engine.submit(slow_square, n) for n in (2, 3)]
        assert sorted(f.result() for f in engine.as_completed(futures)) == [4, 9]
        try:
            list(engine.as_completed([engine.submit(time.sleep, 3)], timeout=0.5))
        except LostWorkerError:
            pass
        else:
            raise AssertionError("no LostWorkerError")
        engine.close(); engine.close()
        print("CONTRACT OK", engine.duplicates, flush=True)
"""


@pytest.mark.slow
def test_scoop_contract(tmp_path):
    script = tmp_path / "contract.py"
    script.write_text(textwrap.dedent(SCOOP_CONTRACT))
    out = run_group([PYTHON, "-m", "scoop", "-n", "2", str(script)], 120, cwd=tmp_path, env=env())
    assert "CONTRACT OK 0" in out.stdout, out.stdout + out.stderr


# --- the same search on every engine --------------------------------------------------

RUN_SCRIPT = """
    import sys
    from deap_cnn.runs.cli import run_main
    from deap_cnn.runs.config import SearchConfig

    if __name__ == "__main__":
        run_main(["search", *sys.argv[1:]], SearchConfig(data="sample"))
"""


def best_of(folder):
    import json

    with open(Path(folder) / "best.json") as handle:
        return json.load(handle)["genome"]


def search_config(out, **changes):
    from deap_cnn.runs.config import SearchConfig

    return SearchConfig(
        **{"strategy": "ga", **changes},
        population=4,
        generations=1,
        epochs=1,
        max_batches=3,
        widths=(4, 8),
        max_skip_units=3,
        final_epochs=0,
        seed=3,
        out=str(out),
        device="cpu",
    )


ENGINE_SCRIPT = """
    import sys
    from deap_cnn.runs.cli import run_main
    from deap_cnn.runs.config import SearchConfig

    if __name__ == "__main__":
        name = sys.argv[1]
        workers = ["--workers", "2"] if name == "dask" else []
        run_main(["search", "--engine", name, *workers, *sys.argv[2:]], SearchConfig(data="sample"))
"""


@pytest.mark.slow
def test_same_best_genome_on_serial_scoop_and_dask(tmp_path):
    # Each run in a fresh process: the reference serial run is what a user's `python script.py` does.
    pytest.importorskip("distributed")
    (tmp_path / "run.py").write_text(textwrap.dedent(RUN_SCRIPT))
    (tmp_path / "engine.py").write_text(textwrap.dedent(ENGINE_SCRIPT))
    commands = {
        "serial": [PYTHON, str(tmp_path / "engine.py"), "serial"],
        "dask": [PYTHON, str(tmp_path / "engine.py"), "dask"],
        "scoop": [PYTHON, "-m", "scoop", "-n", "2", str(tmp_path / "run.py")],
    }
    for name, command in commands.items():
        done = run_group(command + SEARCH_ARGS + ["--out", str(tmp_path / name)], 180, cwd=tmp_path, env=env())
        assert done.returncode == 0, done.stderr
    stored = {name: sorted(rows(tmp_path / name / "results.sqlite")) for name in commands}
    assert stored["serial"] == stored["dask"] == stored["scoop"]
    assert best_of(tmp_path / "serial") == best_of(tmp_path / "dask") == best_of(tmp_path / "scoop")


# --- lost workers ---------------------------------------------------------------------


def scoop_worker_pids(script):
    """Non-origin SCOOP worker processes running ``script``."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, timeout=10).stdout
    return [
        int(line.split()[0])
        for line in out.splitlines()
        if "scoop.bootstrap" in line and str(script) in line and "--origin" not in line
    ]


def rows(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT genome, generation FROM evaluations").fetchall()


@pytest.mark.slow
def test_scoop_lost_worker_ends_run_with_resume_hint_then_resume_matches(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(RUN_SCRIPT))
    out = tmp_path / "lost"
    args = [
        "--strategy",
        "ga",
        "--population",
        "4",
        "--generations",
        "3",
        "--epochs",
        "1",
        "--max-batches",
        "3",
        "--widths",
        "4",
        "8",
        "--max-skip-units",
        "3",
        "--final-epochs",
        "0",
        "--seed",
        "5",
        "--out",
        str(out),
    ]
    # A fixed limit, not the 2-minute floor; above one evaluation on a loaded machine (a worker's first took 9 s).
    launcher = subprocess.Popen(
        [PYTHON, "-m", "scoop", "-n", "2", str(script), *args],
        cwd=tmp_path,
        env=env(DEAP_CNN_RESULT_TIMEOUT="20"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # generation 0 stored: kill during generation 1
            if (out / "checkpoint.json").exists():
                break
            time.sleep(0.05)
        victims = scoop_worker_pids(script)
        assert len(victims) == 1, victims
        os.kill(victims[0], signal.SIGKILL)
        killed_at = time.monotonic()
        output, _ = launcher.communicate(timeout=120)
    finally:
        kill_group(launcher)
    assert launcher.returncode != 0, output
    assert "a worker was probably lost" in output and "resume with: deap-cnn resume " in output, output
    assert time.monotonic() - killed_at < 60

    from deap_cnn.runs.checkpoint import load_checkpoint

    state = load_checkpoint(out / "checkpoint.json")
    stored = rows(out / "results.sqlite")
    assert len(stored) == len({genome for genome, _ in stored}) >= 4
    assert state["generation"] < 3

    resumed = subprocess.run(
        [PYTHON, str(script), *args, "--resume"], cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=180
    )
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole"
    subprocess.run(
        [PYTHON, str(script), *args[:-1], str(whole)],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        timeout=180,
        check=True,
    )
    assert best_of(out) == best_of(whole)


def slow_record(genome):
    time.sleep(1.0)
    return (float(len(str(genome))),)


@pytest.mark.slow
def test_dask_killed_worker_mid_evaluation_every_evaluation_stored_once(tmp_path):
    pytest.importorskip("distributed")
    import cloudpickle
    from deap import base

    from deap_cnn.runs.store import ResultsStore
    from deap_cnn.search.cache import EvaluationCache
    from deap_cnn.search.evaluation import evaluate_population

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    toolbox = base.Toolbox()
    toolbox.register("evaluate", slow_record)
    individuals = distinct_individuals(6)
    with make_engine("dask", n_workers=2) as engine, ResultsStore(tmp_path / "results.sqlite") as store:
        toolbox.register("map", engine.map)
        pids = list(engine.client.run(os.getpid).values())

        def kill_one_worker():
            time.sleep(1.5)  # mid-way through the second round of evaluations
            os.kill(pids[0], signal.SIGKILL)

        import threading

        killer = threading.Thread(target=kill_one_worker)
        killer.start()
        trained, hits, failed = evaluate_population(individuals, toolbox, EvaluationCache(store), generation=0)
        killer.join()
        assert (trained, hits, failed) == (6, 0, 0)
        stored = [row["genome"] for row in store.records()]
        assert sorted(stored) == sorted(str(ind) for ind in individuals)
        assert pids[0] not in engine.client.run(os.getpid).values()  # the killed worker was replaced
        assert [ind.fitness.values[0] for ind in individuals] == [float(len(str(ind))) for ind in individuals]


# --- the lost-worker limit follows the run ----------------------------------------------


@pytest.fixture
def no_env_limit(monkeypatch):
    monkeypatch.delenv(RESULT_TIMEOUT_ENV, raising=False)


def test_limit_before_anything_is_known_is_the_old_default(no_env_limit):
    assert ResultTimeout().seconds == DEFAULT_RESULT_TIMEOUT == 1800
    assert "no evaluation has finished" in ResultTimeout().describe()


def test_limit_is_four_times_the_slowest_evaluation_seen_and_at_least_two_minutes(no_env_limit):
    timeout = ResultTimeout()
    timeout.observe(20)  # a run of 20-second candidates: two minutes, not half an hour
    assert timeout.seconds == 120
    timeout.observe(5)
    timeout.observe(600)
    assert timeout.seconds == 2400
    assert timeout.describe() == "4 times the slowest evaluation (seen 600 s), at least 120 s"


def test_an_estimate_counts_before_the_first_result_bounded_by_the_candidate_limit(no_env_limit):
    timeout = ResultTimeout()
    timeout.expect(30)
    assert timeout.seconds == 120
    timeout.expect(300)
    assert timeout.seconds == 1200
    timeout.expect(10_000)  # a guess: at most the old default, without a candidate limit
    assert timeout.seconds == 1800
    timeout.expect(10_000, candidate_limit=900)  # four times --candidate-limit, the default if that is shorter
    assert timeout.seconds == 3600 and timeout.describe().endswith("at most 3600 s on the estimate alone")
    timeout.observe(5000)  # a fact: an evaluation did take that long
    assert timeout.seconds == 20_000
    assert "seen 5000 s, expected 10000 s" in timeout.describe()


def test_the_estimate_stays_a_lower_bound_after_quicker_results(no_env_limit):
    timeout = ResultTimeout()
    timeout.expect(300)  # the largest candidate, not drawn yet
    timeout.observe(10)
    assert timeout.seconds == 1200


def test_the_environment_and_the_argument_fix_the_limit(monkeypatch):
    monkeypatch.setenv(RESULT_TIMEOUT_ENV, "45")
    timeout = ResultTimeout()
    timeout.expect(10_000)
    timeout.observe(900)
    assert timeout.seconds == 45 and timeout.describe() == f"set by {RESULT_TIMEOUT_ENV}"
    assert ResultTimeout(7).seconds == 7  # the argument wins over the environment
    monkeypatch.setenv(RESULT_TIMEOUT_ENV, "soon")
    with pytest.raises(EngineError, match=f"{RESULT_TIMEOUT_ENV} must be a positive number of seconds, got 'soon'"):
        ResultTimeout()
    with pytest.raises(EngineError, match="result_timeout must be a positive number of seconds, got -1"):
        ResultTimeout(-1)


def test_serial_engine_has_no_limit_and_ignores_estimates():
    engine = SerialEngine()
    engine.expect(100)
    assert engine.timeout is None and engine.result_timeout is None


def test_timed_future_answers_with_the_value_and_reports_the_time(no_env_limit):
    from concurrent.futures import Future

    timeout = ResultTimeout()
    assert Timed(square)(3)[0] == 9
    done = Future()
    done.set_result(("value", 42.0))
    future = TimedFuture(done, timeout)
    assert future.result() == "value" and future.result() == "value"
    assert timeout.slowest == 42.0 and future.done()  # other attributes are the engine's future's
    failed = Future()
    failed.set_exception(ValueError("three"))
    future = TimedFuture(failed, timeout)
    future.settle()  # as as_completed does: the exception waits for result()
    with pytest.raises(ValueError, match="three"):
        future.result()
    assert timeout.slowest == 42.0


class ExpectingEngine(SerialEngine):
    """A serial engine with a lost-worker limit, to see what the runner tells it."""

    def __init__(self):
        super().__init__()
        self.timeout = ResultTimeout()
        self.expected = []

    def expect(self, seconds, candidate_limit=None):
        self.expected.append((seconds, candidate_limit))
        super().expect(seconds, candidate_limit)


def test_the_runner_gives_the_engine_its_estimate_before_the_first_evaluation(tmp_path, monkeypatch, no_env_limit):
    from deap_cnn.runs import runner
    from deap_cnn.runs.cli import main

    engine = ExpectingEngine()
    monkeypatch.setattr(runner, "open_engine", lambda config: engine)
    seen_by_first_evaluation = []
    record = runner.compose

    def composing(config):
        parts = record(config)
        evaluate = parts.evaluate

        def first(genome):
            seen_by_first_evaluation.append(list(engine.expected))
            return evaluate(genome)

        parts.evaluate = first
        return parts

    monkeypatch.setattr(runner, "compose", composing)
    argv = [
        "search",
        "--population",
        "2",
        "--generations",
        "0",
        "--epochs",
        "1",
        "--max-batches",
        "2",
        "--final-epochs",
        "0",
        "--widths",
        "4",
        "--max-skip-units",
        "2",
        "--candidate-limit",
        "600",
        "--rerank",
        "1",
        "--rerank-epochs",
        "3",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    (search, limit), (rerank, _) = engine.expected
    assert seen_by_first_evaluation[0] == [(search, 600.0)] and search > 0
    assert rerank == pytest.approx(3 * search)  # reranking trains three epochs where the search trained one
    assert engine.timeout.ceiling == 2400


def test_a_time_budget_caps_what_the_runner_expects(no_env_limit):
    from deap_cnn.runs.config import SearchConfig
    from deap_cnn.runs.runner import _expect_evaluations
    from deap_cnn.training.estimate import TrainingEstimate

    engine = ExpectingEngine()
    estimate = TrainingEstimate("S4", seconds=300.0, steps=100, step_seconds=3.0, device="cpu")
    _expect_evaluations(engine, SearchConfig(epochs=2, time_budget=20), estimate, 2)
    _expect_evaluations(engine, SearchConfig(epochs=2), estimate, 4)
    _expect_evaluations(None, SearchConfig(), estimate, 4)  # the caller's own map: nothing to tell
    assert engine.expected == [(20.0, 1800.0), (600.0, 1800.0)]


SCOOP_LOST_QUICKLY = """
    import os, signal, time
    from deap_cnn.engines import LostWorkerError, make_engine
    from deap_cnn.engines.scoop_engine import end_scoop_run
    from deap_cnn.engines.timeout import ResultTimeout

    def slow_square(x):
        time.sleep(0.1 * (x % 3))
        return x * x

    if __name__ == "__main__":
        engine = make_engine("scoop")
        engine.timeout = ResultTimeout(floor=1)  # small numbers: the 2-minute floor, shrunk
        assert engine.map(slow_square, range(6)) == [x * x for x in range(6)]
        print("LIMIT", engine.result_timeout, flush=True)
        worker = engine.submit(os.getpid)
        [done] = engine.as_completed([worker])
        assert done.result() != os.getpid()
        os.kill(done.result(), signal.SIGKILL)
        try:
            engine.map(slow_square, range(6))
        except LostWorkerError as lost:
            print("MAP LOST", sorted(lost.completed), lost.missing, lost, flush=True)
        try:
            list(engine.as_completed([engine.submit(slow_square, 1)]))
        except LostWorkerError as lost:
            print("AS_COMPLETED LOST", lost, flush=True)
        end_scoop_run(None, 1)
"""


@pytest.mark.slow
def test_scoop_small_run_notices_a_lost_worker_after_its_own_limit(tmp_path):
    script = tmp_path / "lost.py"
    script.write_text(textwrap.dedent(SCOOP_LOST_QUICKLY))
    environment = env()
    environment.pop(RESULT_TIMEOUT_ENV, None)
    out = run_group([PYTHON, "-m", "scoop", "-n", "2", str(script)], 120, cwd=tmp_path, env=environment)
    lines = {line.split(" ", 1)[0]: line for line in out.stdout.splitlines()}
    assert lines.get("LIMIT") == "LIMIT 1.0", out.stdout + out.stderr
    assert "a worker was probably lost" in lines.get("MAP", ""), out.stdout + out.stderr
    assert "(4 times the slowest evaluation (seen 0 s), at least 1 s)" in lines["MAP"]
    assert "a worker was probably lost" in lines.get("AS_COMPLETED", ""), out.stdout + out.stderr


# --- several hosts (loopback) ---------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_dask_scheduler_and_worker_started_apart_run_a_search(tmp_path):
    pytest.importorskip("distributed")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [PYTHON, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen(
        dask + ["--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "distributed.cli.dask_worker",
                address,
                "--nthreads",
                "1",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--no-nanny",
            ],
            env=env(),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        from deap_cnn.runs.runner import run_search

        deadline = time.monotonic() + 60
        engine = None
        while engine is None or engine.workers < 2:
            assert time.monotonic() < deadline, "the workers never joined"
            try:
                engine = engine or make_engine("dask", scheduler=address)
            except EngineError:  # the scheduler is still starting
                pass
            time.sleep(0.3)
        with engine:
            summary = run_search(search_config(tmp_path / "remote"), map_function=engine.map, verbose=False)
            workers_used = {row["worker"].split(":")[-1] for row in _records(tmp_path / "remote")}
        assert summary["evaluations"] == len(_records(tmp_path / "remote")) >= 4
        assert workers_used <= {str(w.pid) for w in workers} and len(workers_used) >= 1
    finally:
        for process in [*workers, scheduler]:
            process.kill()
            process.wait(timeout=30)


def _records(folder):
    with sqlite3.connect(Path(folder) / "results.sqlite") as db:
        return [{"worker": worker} for (worker,) in db.execute("SELECT worker FROM evaluations")]


@pytest.mark.slow
def test_scoop_hostfile_on_loopback(tmp_path):
    # SCOOP starts workers for a loopback host directly, without SSH; this
    # machine runs no sshd, so SSH to a real host name cannot be tested here.
    (tmp_path / "hosts").write_text("127.0.0.1 2\n")
    script = tmp_path / "contract.py"
    script.write_text(textwrap.dedent(SCOOP_CONTRACT))
    out = run_group(
        [PYTHON, "-m", "scoop", "--hostfile", str(tmp_path / "hosts"), str(script)], 120, cwd=tmp_path, env=env()
    )
    assert "CONTRACT OK 0" in out.stdout, out.stdout + out.stderr
