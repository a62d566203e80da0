"""A run folder that nothing can corrupt (issue 23): one writer, integrity on resume, JSON checkpoints, no foreign files.

Each test reproduces one way a folder was lost, mixed, made to run code or
answered with a traceback, on a ``--lookup`` run of the nats family (seconds),
through ``deap_cnn.runs.cli.main`` in this process.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from deap_cnn.families import get_family
from deap_cnn.runs.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from deap_cnn.runs.cli import main
from deap_cnn.runs.folder import FolderLock, RunFolder

ROOT = Path(__file__).resolve().parent.parent
SPACE = get_family("nats").space((3, 32, 32), 10, {})


def _write_table(path, salt=""):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["architecture", "score"])
        for genome in SPACE.all_genomes():
            text = str(genome)
            writer.writerow(
                [text, repr(50 + int(hashlib.sha256((salt + text).encode()).hexdigest()[:8], 16) % 5000 / 100)]
            )
    return str(path)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    return _write_table(folder / "table.csv"), _write_table(folder / "other.csv", salt="other")


@pytest.fixture(autouse=True)
def in_tmp_path(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)


def search_args(table, out, trainings=30):
    return ["search", "--family", "nats", "--seed", "1", "--lookup", table, "--population", "6",
            "--trainings", str(trainings), "--out", str(out)]  # fmt: skip


def run_cli(*args) -> int:
    return main([str(a) for a in args])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def rows(out) -> list:
    with sqlite3.connect(f"file:{Path(out) / 'results.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT genome, fitness FROM evaluations ORDER BY id").fetchall()


@pytest.fixture(scope="module")
def finished(tables, tmp_path_factory):
    """An uninterrupted run of 30 evaluations, and the same run stopped after 12 (its checkpoint and store)."""
    base = tmp_path_factory.mktemp("runs")
    old = os.getcwd()
    os.chdir(base)
    try:
        assert main(search_args(tables[0], base / "whole")) == 0
        assert main(search_args(tables[0], base / "part", trainings=12)) == 0
    finally:
        os.chdir(old)
    config = json.loads((base / "part" / "config.json").read_text())
    config["trainings"] = 30  # as if stopped at 12 of 30: the store's settings say 30 too
    (base / "part" / "config.json").write_text(json.dumps(config))
    with sqlite3.connect(base / "part" / "results.sqlite") as db:
        db.execute("UPDATE settings SET value = ? WHERE key = 'config'", (json.dumps(config),))
    (base / "part" / "best.json").unlink()
    return base / "whole", base / "part"


def interrupted(finished, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished[1], out)
    return out


def test_a_stopped_run_resumes_to_the_uninterrupted_result(finished, tmp_path):
    out = interrupted(finished, tmp_path)
    assert run_cli("resume", out) == 0
    assert rows(out) == rows(finished[0])
    keep = ("genome", "validation_fitness", "evaluations", "trainings")
    best = json.loads((out / "best.json").read_text())
    whole = json.loads((finished[0] / "best.json").read_text())
    assert {k: best[k] for k in keep} == {k: whole[k] for k in keep}


# --- 1. one writer per folder ----------------------------------------------------------------------------


@pytest.mark.parametrize("second", ["resume", "search"])
def test_a_second_writer_is_refused_naming_the_holder(finished, tmp_path, capsys, tables, second):
    out = interrupted(finished, tmp_path)
    before = rows(out)
    with FolderLock(RunFolder(out)):  # another process's run, as far as flock is concerned
        command = ["resume", out] if second == "resume" else search_args(tables[0], out)
        assert run_cli(*command) == 1
        line = one_line_error(capsys)
        if second == "search":  # refused before it takes the lock, so a resume starting now is never turned away
            assert "already holds a run" in line and "resume" in line and rows(out) == before
        else:
            assert "being written by another deap-cnn process" in line and f"PID {os.getpid()}" in line
            assert "started" in line and rows(out) == before
    assert run_cli("resume", out) == 0  # the lock goes with its holder
    assert rows(out) == rows(finished[0])


def test_readers_take_no_lock(finished, tmp_path):
    out = interrupted(finished, tmp_path)
    with FolderLock(RunFolder(out)):
        assert run_cli("report", out) == 0


# --- 2, 5. a store or checkpoint that is missing, empty, short or another run's ---------------------------


@pytest.mark.parametrize("damage", ["empty store", "deleted store", "deleted checkpoint", "short store"])
def test_a_lost_store_or_checkpoint_is_refused(finished, tmp_path, capsys, damage):
    out = interrupted(finished, tmp_path)
    if damage == "empty store":
        (out / "results.sqlite").write_bytes(b"")
    elif damage == "deleted store":
        (out / "results.sqlite").unlink()
    elif damage == "deleted checkpoint":
        (out / "checkpoint.json").unlink()
    else:
        with sqlite3.connect(out / "results.sqlite") as db:
            db.execute("DELETE FROM evaluations WHERE id > 3")
    checkpoint = (out / "checkpoint.json").read_bytes() if damage != "deleted checkpoint" else None
    assert run_cli("resume", out) == 1
    line = one_line_error(capsys)
    expected = {"empty store": "is empty", "deleted store": "is missing", "deleted checkpoint": "the run wrote one",
                "short store": "fewer than the 12"}[damage]  # fmt: skip
    assert expected in line and "--out" in line
    if checkpoint is not None:
        assert (out / "checkpoint.json").read_bytes() == checkpoint  # nothing changed
    if damage == "empty store":
        assert (out / "results.sqlite").stat().st_size == 0  # left as found: restore it and resume


def test_a_store_of_another_run_is_refused(finished, tmp_path, capsys):
    out = interrupted(finished, tmp_path)
    shutil.copy(finished[0] / "results.sqlite", out / "results.sqlite")  # same settings, another run
    assert run_cli("resume", out) == 1
    assert "belongs to another run" in one_line_error(capsys)


# --- 3. a changed table or setting ---------------------------------------------------------------------


def test_a_changed_table_is_refused_naming_it(finished, tmp_path, capsys, tables):
    out = interrupted(finished, tmp_path)
    table = tmp_path / "table.csv"
    shutil.copy(tables[0], table)
    config = json.loads((out / "config.json").read_text())
    config["lookup"] = str(table)
    with sqlite3.connect(out / "results.sqlite") as db:  # the run started on this copy of the table
        db.execute("UPDATE settings SET value = ? WHERE key = 'config'", (json.dumps(config),))
    (out / "config.json").write_text(json.dumps(config))
    shutil.copy(tables[1], table)  # ... which another benchmark's table then replaced
    assert run_cli("resume", out) == 1
    line = one_line_error(capsys)
    assert f"the table {table} changed" in line and "--out" in line


@pytest.mark.parametrize("key, value", [("lookup", "other"), ("population", 12), ("seed", 2)])
def test_an_edited_config_is_refused_naming_the_setting(finished, tmp_path, capsys, tables, key, value):
    out = interrupted(finished, tmp_path)
    config = json.loads((out / "config.json").read_text())
    config[key] = tables[1] if value == "other" else value
    (out / "config.json").write_text(json.dumps(config))
    assert run_cli("resume", out) == 1
    line = one_line_error(capsys)
    assert "config.json differs from the settings the run started with" in line and key in line


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({}, "differs from the settings"),
        ({"trainings": None, "generations": None}, "generations is null"),
        ({"seed": "abc"}, "seed must be an int"),
        ({"population": "20"}, "population must be an int"),
        ({"bogus": 1}, "unknown setting(s) bogus"),
        ({"population": 0}, "--population 0: out of range"),
    ],
)
def test_config_json_is_checked_as_the_command_line(finished, tmp_path, capsys, values, fragment):
    out = interrupted(finished, tmp_path)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps(values if not values else {**config, **values}))
    assert run_cli("resume", out) != 0
    line = one_line_error(capsys)
    assert fragment in line and "config.json" in line


# --- 4. never another's files -----------------------------------------------------------------------


def test_a_folder_of_other_files_is_refused_and_left_alone(tmp_path, capsys, tables):
    out = tmp_path / "D"
    out.mkdir()
    (out / "config.json").write_text('{"x":1}')
    (out / "report.html").write_text("mine")
    assert run_cli(*search_args(tables[0], out)) == 1
    assert "is not empty (config.json, report.html) and is not a deap_cnn run folder" in one_line_error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "report.html"]
    assert (out / "config.json").read_text() == '{"x":1}'


@pytest.mark.parametrize("out", ["", "x" * 300])
def test_an_empty_or_too_long_out_is_refused(tmp_path, capsys, tables, out):
    assert run_cli(*search_args(tables[0], out)) == 1
    line = one_line_error(capsys)
    assert ("--out is empty" in line) if not out else ("longer than the 255" in line)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_empty_folder_is_used_and_a_failed_start_cleared_by_its_marker(tmp_path, tables):
    out = tmp_path / "empty"
    out.mkdir()
    assert run_cli(*search_args(tables[0], out, trainings=6)) == 0
    assert (out / ".deap-cnn-run.json").exists() and (out / "checkpoint.json").exists()


# --- 6. a checkpoint cannot run code ---------------------------------------------------------------


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {Path.cwd() / 'PWNED'}",))


@pytest.mark.parametrize("name", ["checkpoint.pkl", "checkpoint.json"])
def test_a_crafted_pickle_checkpoint_runs_nothing(finished, tmp_path, capsys, name):
    out = interrupted(finished, tmp_path)
    (out / "checkpoint.json").unlink()
    (out / name).write_bytes(pickle.dumps(_Exploit()))
    assert run_cli("resume", out) == 1
    line = one_line_error(capsys)
    assert "pickle checkpoint" in line and "--trust-pickle-checkpoint" in line
    assert not (tmp_path / "PWNED").exists()


def test_an_old_pickle_checkpoint_of_ones_own_converts_once(finished, tmp_path, capsys):
    out = interrupted(finished, tmp_path)
    state = load_checkpoint(out / "checkpoint.json")
    for stamp in ("format", "run_id", "evaluations"):  # what a checkpoint of deap_cnn before 0.2 lacked
        state.pop(stamp)
    random_state = state.pop("random_state")
    payload = dict(state, format="deap_cnn.checkpoint/1", random_state=random_state)
    (out / "checkpoint.pkl").write_bytes(pickle.dumps(payload))
    (out / "checkpoint.json").unlink()
    with sqlite3.connect(out / "results.sqlite") as db:  # an old folder's store knows nothing of checkpoints
        db.execute("DELETE FROM settings WHERE key IN ('checkpointed', 'run_id')")
    (out / ".deap-cnn-run.json").unlink()
    assert run_cli("resume", out) == 1
    assert "--trust-pickle-checkpoint" in one_line_error(capsys)
    assert run_cli("resume", out, "--trust-pickle-checkpoint") == 0
    assert (out / "checkpoint.json").exists() and rows(out) == rows(finished[0])


def test_checkpoints_hold_data_only(tmp_path):
    save_checkpoint(tmp_path / "c.json", generation=1, values={(1, "a"), (2, "b")}, nan=float("nan"))
    text = (tmp_path / "c.json").read_text()
    assert json.loads(text)["format"] == "deap_cnn.checkpoint/1"
    state = load_checkpoint(tmp_path / "c.json")
    assert state["values"] == {(1, "a"), (2, "b")} and state["nan"] != state["nan"]
    (tmp_path / "bad.json").write_text(json.dumps({"format": "deap_cnn.checkpoint/1", "x": {"$": "os.system"}}))
    with pytest.raises(CheckpointError, match="unknown kind"):
        load_checkpoint(tmp_path / "bad.json")


# --- 7. tracebacks that became one line --------------------------------------------------------------


def _immutable(path):
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")


@pytest.mark.parametrize("name", ["results.sqlite", "checkpoint.json"])
def test_an_immutable_store_or_checkpoint_is_one_line(finished, tmp_path, capsys, name):
    out = interrupted(finished, tmp_path)
    _immutable(out / name)
    try:
        assert run_cli("resume", out) == 1
        line = one_line_error(capsys)
        assert name in line
    finally:
        subprocess.run(["chattr", "-i", str(out / name)], check=False)


def test_report_of_a_non_utf8_path_is_one_line(tmp_path, capsys):
    name = os.fsdecode(b"run-\xff")
    assert run_cli("report", name) == 1
    assert "run-" in one_line_error(capsys)


def test_no_stray_checkpoint_temporaries_survive_a_resume(finished, tmp_path):
    out = interrupted(finished, tmp_path)
    (out / ".checkpoint-abc123.tmp").write_text("half")
    (out / "status.json.tmp").write_text("half")
    assert run_cli("resume", out) == 0
    assert not list(out.glob("*.tmp")) and not list(out.glob(".checkpoint-*"))


# --- the fault-injection benchmark, small --------------------------------------------------------------


@pytest.mark.slow
def test_faults_benchmark_quick(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "faults.py"), "--quick", "--work", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=1500,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 of 3 killed-and-resumed runs identical" in result.stdout
    assert "all faults handled" in result.stdout


# --- weak cases ------------------------------------------------------------------------------------------


def test_an_npz_of_object_arrays_is_named_as_such(tmp_path):
    import numpy as np

    from deap_cnn.training.datasets import DataError
    from deap_cnn.training.loaders import load_npz

    ragged = np.empty(2, dtype=object)
    ragged[:] = [[1], [2, 3]]
    np.savez(tmp_path / "o.npz", x_train=ragged, y_train=np.arange(2), x_test=np.zeros((2, 8, 8)), y_test=np.arange(2))
    with pytest.raises(DataError, match="x_train as an array of Python objects") as error:
        load_npz(tmp_path / "o.npz")
    assert "damaged" not in str(error.value)


def test_a_population_larger_than_the_space_is_warned_about(tmp_path, capsys, tables):
    args = search_args(tables[0], tmp_path / "big", trainings=20)
    args[args.index("--population") + 1] = "20000"
    assert run_cli(*args) == 0
    assert "larger than the space, which holds 15,625 genomes" in capsys.readouterr().err


def test_report_serve_names_a_host_it_cannot_listen_on(finished, capsys):
    assert run_cli("report", finished[0], "--serve", "--host", "8.8.8.8", "--port", "0") == 1
    line = one_line_error(capsys)
    assert "--host 8.8.8.8 is not an address of this machine" in line
