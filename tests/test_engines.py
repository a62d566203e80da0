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

from deap_cnn.engines import EngineError, LostWorkerError, make_engine
from deap_cnn.engines.serial import SerialEngine

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SEARCH_ARGS = ["--strategy", "ga", "--population", "4", "--generations", "1", "--epochs", "1", "--max-batches", "3",
               "--widths", "4", "8", "--max-skip-units", "3", "--final-epochs", "0", "--seed", "3"]


def env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), "DEAP_CNN_DEVICE": "cpu", "DEAP_CNN_LOCAL_WORKERS": "2", **extra}


def run_group(command, timeout, **options):
    """``subprocess.run`` in a session of its own, whose every process is killed afterwards.

    SCOOP's launcher leaves its workers behind when it is killed on a timeout.
    """
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, **options)
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
    code = "import sys, deap_cnn.engines; print(sorted(m for m in ('torch', 'dask', 'distributed') if m in sys.modules))"
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

    return SearchConfig(**{"strategy": "ga", **changes}, population=4, generations=1, epochs=1, max_batches=3,
                        widths=(4, 8), max_skip_units=3, final_epochs=0, seed=3, out=str(out), device="cpu")


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
    return [int(line.split()[0]) for line in out.splitlines()
            if "scoop.bootstrap" in line and str(script) in line and "--origin" not in line]


def rows(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT genome, generation FROM evaluations").fetchall()


@pytest.mark.slow
def test_scoop_lost_worker_ends_run_with_resume_hint_then_resume_matches(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(RUN_SCRIPT))
    out = tmp_path / "lost"
    args = ["--strategy", "ga", "--population", "4", "--generations", "3", "--epochs", "1", "--max-batches", "20",
            "--widths", "4", "8", "--max-skip-units", "3", "--final-epochs", "0", "--seed", "5", "--out", str(out)]
    launcher = subprocess.Popen([PYTHON, "-m", "scoop", "-n", "2", str(script), *args], cwd=tmp_path,
                                env=env(DEAP_CNN_RESULT_TIMEOUT="4"), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # generation 0 stored: kill during generation 1
            if (out / "checkpoint.pkl").exists():
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

    state = load_checkpoint(out / "checkpoint.pkl")
    stored = rows(out / "results.sqlite")
    assert len(stored) == len({genome for genome, _ in stored}) >= 4
    assert state["generation"] < 3

    resumed = subprocess.run([PYTHON, str(script), *args, "--resume"], cwd=tmp_path, env=env(),
                             capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole"
    subprocess.run([PYTHON, str(script), *args[:-1], str(whole)], cwd=tmp_path, env=env(),
                   capture_output=True, timeout=180, check=True)
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
    scheduler = subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
                                 env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([PYTHON, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                 "--host", "127.0.0.1", "--no-dashboard", "--no-nanny"], env=env(), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
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
    out = run_group([PYTHON, "-m", "scoop", "--hostfile", str(tmp_path / "hosts"), str(script)], 120,
                    cwd=tmp_path, env=env())
    assert "CONTRACT OK 0" in out.stdout, out.stdout + out.stderr
