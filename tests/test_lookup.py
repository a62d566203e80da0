"""Searching a tabular NAS benchmark: tables read and checked, lookups with seeded noise, runs, errors and resume.

The project never needs the real NATS-Bench file: every table here is
written by the tests. ``full_table`` holds all 15,625 cells of the ``nats``
space with a synthetic, deterministic score (a weighted sum of the edges'
operations plus a small hash-based term, so the optimum is unique); the
others are small variants that break one rule each. Runs go through
``deap_cnn.runs.cli.main`` in this process (a lookup takes milliseconds);
one test crosses a real process boundary, where the noise's seeding matters.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import pickle
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from deap_cnn.families import get_family
from deap_cnn.families.nats import CellGenome
from deap_cnn.lookup import LookupEvaluator, LookupSettings, LookupTable, TableError, load_table
from deap_cnn.runs.cli import main
from deap_cnn.runs.interrupts import RunInterrupted

ROOT = Path(__file__).resolve().parent.parent

#: The space a ``--lookup`` run of the nats family searches (CIFAR-10's images, the benchmark's network).
SPACE = get_family("nats").space((3, 32, 32), 10, {})
#: Every cell of the space, as canonical text, in the space's own order.
CELLS = [str(genome) for genome in SPACE.all_genomes()]

#: Per-edge value of each operation: convolutions best, "none" worst.
WEIGHT = {"none": 0, "skip_connect": 1, "avg_pool_3x3": 2, "nor_conv_1x1": 3, "nor_conv_3x3": 4}


def synthetic_score(text: str) -> float:
    """10 plus each edge's operation value times (edge number + 1), plus a hash term in [0, 0.1).

    The sum moves in whole steps, so the hash term only breaks ties: the
    all-``nor_conv_3x3`` cell (sum 84) is the unique optimum.
    """
    operations = CellGenome.from_string(text)
    tie_breaker = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 1000 / 10_000
    return 10.0 + sum(WEIGHT[op] * (edge + 1) for edge, op in enumerate(operations)) + tie_breaker


SCORES = {text: synthetic_score(text) for text in CELLS}
OPTIMUM = str(CellGenome(["nor_conv_3x3"] * 6))
A, B, C, D = CELLS[100], CELLS[2000], CELLS[9000], CELLS[15000]


def write_table(path, rows, header=("architecture", "score")) -> str:
    """A CSV file: ``header``, then ``rows`` (sequences of cells, written as given)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def full_table(tmp_path_factory) -> str:
    """``architecture,score`` for all 15,625 cells (scores written exactly, as ``repr`` of the float)."""
    return write_table(tmp_path_factory.mktemp("table") / "nats.csv", ((t, repr(s)) for t, s in SCORES.items()))


@pytest.fixture(autouse=True)
def in_tmp_path(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing a lookup run writes lands in the repository


def run_cli(*args) -> int:
    return main(list(map(str, args)))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in err
    return err


def stored(run, everything=False) -> list[dict]:
    """Rows of ``run``'s store, oldest first; only those under the run's own fingerprint unless ``everything``."""
    with sqlite3.connect(f"file:{Path(run) / 'results.sqlite'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        (fingerprint,) = db.execute("SELECT value FROM settings WHERE key = 'fingerprint'").fetchone()
        rows = [dict(row) for row in db.execute("SELECT * FROM evaluations ORDER BY id")]
    for row in rows:
        row["fitness"] = json.loads(row["fitness"])
        row["main"] = row["fingerprint"] == json.loads(fingerprint)
    return rows if everything else [row for row in rows if row["main"]]


def best_json(run) -> dict:
    return json.loads((Path(run) / "best.json").read_text())


def nothing_written(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


# --- 1. reading a table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, key",
    [
        (("architecture", "score"), 0),
        (("score", "arch"), 1),
        (("score", "genome"), 1),
        (("dataset", "architecture", "score"), 1),
        (("cell", "score"), 0),  # no known name: the first column
    ],
    ids=["architecture", "arch-second", "genome-second", "named-after-text", "first-column"],
)
def test_the_key_column_is_found_by_name_or_is_the_first(tmp_path, header, key):
    rows = []
    for text in (A, B, C):
        row = {"score": repr(SCORES[text]), "dataset": "cifar10"}
        row[header[key]] = text
        rows.append([row[name] for name in header])
    table = load_table(write_table(tmp_path / "t.csv", rows, header), SPACE)
    assert isinstance(table, LookupTable) and len(table) == 3 and table.column == "score"
    assert {text: table[text] for text in (A, B, C)} == {text: SCORES[text] for text in (A, B, C)}
    assert D not in table and table.missing([A, D, B]) == [D]


def test_another_spelling_of_a_cell_is_stored_under_its_canonical_text(tmp_path):
    table = load_table(write_table(tmp_path / "t.csv", [[f"  {A} ", "1.5"], [B, " 2.5 "]]), SPACE)
    assert table[A] == 1.5 and table[CellGenome.from_string(B)] == 2.5
    assert sorted(table.scores) == sorted([A, B])


def test_the_score_column_is_the_named_one_or_the_only_numeric_one(tmp_path):
    header = ("architecture", "dataset", "accuracy", "parameters")
    rows = [[A, "cifar10", "91.5", "1000"], [B, "cifar10", "92.5", "2000"]]
    path = write_table(tmp_path / "t.csv", rows, header)
    assert load_table(path, SPACE, "parameters")[B] == 2000.0
    assert load_table(path, SPACE, "accuracy")[B] == 92.5
    only = write_table(tmp_path / "only.csv", [row[:3] for row in rows], header[:3])
    table = load_table(only, SPACE)  # "dataset" is text: accuracy is the only numeric column
    assert table.column == "accuracy" and table[A] == 91.5


def test_a_full_table_covers_the_space_and_knows_its_unique_optimum(full_table):
    table = load_table(full_table, SPACE)
    assert len(table) == SPACE.size == 15_625 and table.column == "score"
    assert table.check_covers(SPACE) is None
    assert table.best() == (OPTIMUM, SCORES[OPTIMUM])
    assert sorted(SCORES.values())[-2] < SCORES[OPTIMUM] - 0.5  # unique, by a whole step
    assert load_table(full_table, SPACE) is table  # read once per process


def test_an_edited_table_is_read_again_never_served_stale(tmp_path):
    path = write_table(tmp_path / "t.csv", [[A, "1"], [B, "2"]])
    assert load_table(path, SPACE)[A] == 1.0
    write_table(path, [[A, "3"], [B, "2"]])
    assert load_table(path, SPACE)[A] == 3.0


def test_check_covers_counts_the_missing_cells_and_names_one(tmp_path):
    missing = [CELLS[7], CELLS[8], CELLS[9000]]
    rows = [[text, "1"] for text in CELLS if text not in missing]
    path = write_table(tmp_path / "partial.csv", rows)
    table = load_table(path, SPACE)
    assert table.missing(SPACE.all_genomes()) == missing
    with pytest.raises(TableError) as raised:
        table.check_covers(SPACE)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"table {path} lacks 3 of the space's 15,625 architectures (e.g. {missing[0]}):")
    assert "export the whole benchmark (deap-cnn nats-table) or use a table that covers the space" in message
    assert missing[1] not in message  # one named, not a wall of cells


def _text(content):
    def write(tmp):
        (tmp / "t.csv").write_text(content)
        return str(tmp / "t.csv")

    return write


def _bytes(content):
    def write(tmp):
        (tmp / "t.csv").write_bytes(content)
        return str(tmp / "t.csv")

    return write


def _nothing(tmp):
    return str(tmp / "nowhere.csv")


def _folder(tmp):
    (tmp / "folder.csv").mkdir()
    return str(tmp / "folder.csv")


#: (name, file writer, --lookup-column, message fragments after "table PATH").
BAD_TABLES = [
    (
        "missing-file",
        _nothing,
        None,
        ["cannot read table {path}: No such file or directory; give the path of a CSV file"],
    ),
    ("a-folder", _folder, None, ["cannot read table {path}: Is a directory; give the path of a CSV file"]),
    ("empty", _text(""), None, ["table {path} holds no rows under a header: write one architecture per row"]),
    ("header-only", _text("architecture,score\n"), None, ["table {path} holds no rows under a header"]),
    ("blank-rows-only", _text("architecture,score\n\n ,\n"), None, ["table {path} holds no rows under a header"]),
    (
        "not-utf8",
        _bytes(b"architecture,score\n\xff\xfe\xfa,1\n"),
        None,
        ["cannot read table {path} as CSV (", "write it as CSV with a header row"],
    ),
    (
        "long-row",
        _text(f"architecture,score\n{A},1\n{B},2,3\n{C},3\n"),
        None,
        ["table {path}, line 3: 3 fields under a header of 2"],
    ),
    (
        "short-row",
        _text(f"architecture,score\n{A},1\n{B}\n{C},3\n"),
        "score",
        ["table {path}, line 3: 1 fields under a header of 2"],
    ),
    (
        "text-score",
        _text(f"architecture,score\n{A},1\n{B},high\n"),
        "score",
        ["table {path}, line 3: score is 'high', not a finite number"],
    ),
    (
        "nan-score",
        _text(f"architecture,score\n{A},1\n{B},2\n{C},nan\n"),
        "score",
        ["table {path}, line 4: score is 'nan', not a finite number"],
    ),
    (
        "inf-score",
        _text(f"architecture,score\n{A},-inf\n{B},2\n"),
        "score",
        ["table {path}, line 2: score is '-inf', not a finite number"],
    ),
    (
        "unparseable",
        _text(f"architecture,score\n{A},1\nresnet50,2\n"),
        None,
        ["table {path}, line 3: cannot parse cell 'resnet50': expected 3 nodes separated by '+'"],
    ),
    (
        "wrong-edge",
        _text(f"architecture,score\n{A},1\n|none~1|+|none~0|none~1|+|none~0|none~1|none~2|,2\n"),
        None,
        ["table {path}, line 3: cannot parse cell", "must be 'op~0'"],
    ),
    (
        "listed-twice",
        _text(f"architecture,score\n{A},1\n{B},2\n {A},3\n"),
        None,
        ["table {path}, line 4: architecture " + A + " is listed twice; keep one row each"],
    ),
    (
        "two-numeric",
        _text(f"architecture,accuracy,parameters\n{A},91,1000\n{B},92,2000\n"),
        None,
        [
            "table {path}: choose the score column with --lookup-column (numeric columns: accuracy, parameters; "
            "all columns: architecture, accuracy, parameters)"
        ],
    ),
    (
        "no-numeric",
        _text(f"architecture,dataset\n{A},cifar10\n{B},cifar10\n"),
        None,
        [
            "table {path}: choose the score column with --lookup-column (numeric columns: none; "
            "all columns: architecture, dataset)"
        ],
    ),
    (
        "no-such-column",
        _text(f"architecture,score\n{A},1\n{B},2\n"),
        "accuracy",
        ["table {path} has no column 'accuracy'; its columns are architecture, score (--lookup-column)"],
    ),
]


@pytest.mark.parametrize("name, write, column, fragments", BAD_TABLES, ids=[case[0] for case in BAD_TABLES])
def test_a_bad_table_is_one_line_naming_the_file_and_the_problem(tmp_path, name, write, column, fragments):
    path = write(tmp_path)
    with pytest.raises(TableError) as raised:
        load_table(path, SPACE, column)
    message = str(raised.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment.format(path=path) in message, message


@pytest.mark.parametrize("row", [[B, "nan"], [B, "n/a"], [B, "inf"], [B]], ids=["nan", "text", "inf", "short-row"])
def test_a_bad_row_in_the_only_score_column_is_named_by_its_line(tmp_path, row):
    path = tmp_path / "t.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([["architecture", "score"], [A, "91.5"], row, [C, "93.0"]])
    with pytest.raises(TableError) as raised:
        load_table(path, SPACE)
    assert "line 3" in str(raised.value), str(raised.value)


def test_one_missing_accuracy_never_turns_the_parameter_count_into_the_fitness(tmp_path):
    rows = [[A, "91.5", "1000"], [B, "nan", "2000"], [C, "93.0", "3000"]]
    path = write_table(tmp_path / "t.csv", rows, ("architecture", "accuracy", "parameters"))
    with pytest.raises(TableError) as raised:  # naming the bad line, or asking which column: never 'parameters'
        load_table(path, SPACE)
    assert "accuracy" in str(raised.value)


def test_a_table_saved_with_a_byte_order_mark_names_its_first_column_plainly(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text(f"accuracy,architecture\n91.5,{A}\n92.5,{B}\n", encoding="utf-8-sig")
    table = load_table(path, SPACE, "accuracy")
    assert table[B] == 92.5 and table.column == "accuracy"


# --- 2. the lookup evaluator ----------------------------------------------------------------------------


def test_a_lookup_record_is_the_tables_score_with_the_spaces_sizes(full_table):
    evaluator = LookupEvaluator(full_table, SPACE, LookupSettings(epochs=7))
    assert evaluator.deterministic
    for text in (A, B, OPTIMUM):
        genome = CellGenome.from_string(text)
        record = evaluator.record(genome)
        assert record.genome == text and record.fitness == (SCORES[text],) and record.val_accuracy == [SCORES[text]]
        assert record.noise_free_fitness == SCORES[text] and record.status == "ok"
        assert record.parameters == SPACE.parameters(genome) > 0
        assert record.flops == 2 * SPACE.macs(genome) > 0
        assert record.epochs == 7 and record.device == "table"
        assert evaluator(genome) == (SCORES[text],) and evaluator.record(text) == record  # text is parsed
    assert evaluator.record(OPTIMUM).parameters > evaluator.record(str(CellGenome(["none"] * 6))).parameters


def test_the_noise_is_seeded_by_seed_genome_and_epochs(full_table):
    settings = LookupSettings(noise=0.4, noise_epochs=4, epochs=4, seed=11)
    first, second = LookupEvaluator(full_table, SPACE, settings), LookupEvaluator(full_table, SPACE, settings)
    copied = pickle.loads(pickle.dumps(first))
    other_seed = LookupEvaluator(full_table, SPACE, LookupSettings(noise=0.4, noise_epochs=4, epochs=4, seed=12))
    longer = LookupEvaluator(full_table, SPACE, LookupSettings(noise=0.4, noise_epochs=4, epochs=16, seed=11))
    assert not first.deterministic and not other_seed.deterministic
    texts = CELLS[::500]
    draws = [first.record(text).fitness[0] for text in texts]
    assert draws == [second.record(text).fitness[0] for text in texts] == [copied(text)[0] for text in texts]
    assert all(first.record(text).noise_free_fitness == SCORES[text] for text in texts)  # the table's own value kept
    assert all(draw != SCORES[text] for draw, text in zip(draws, texts, strict=True))
    for evaluator in (other_seed, longer):
        redrawn = [evaluator.record(text).fitness[0] for text in texts]
        assert all(a != b for a, b in zip(redrawn, draws, strict=True))
        assert [evaluator.record(text).noise_free_fitness for text in texts] == [SCORES[t] for t in texts]


@pytest.mark.parametrize(
    "noise, noise_epochs, epochs", [(0.5, 1, 1), (0.5, 2, 8), (1.2, 10, 3)], ids=["sd-0.5", "sd-0.25", "sd-2.19"]
)
def test_the_noise_has_the_stated_standard_deviation(full_table, noise, noise_epochs, epochs):
    settings = LookupSettings(noise=noise, noise_epochs=noise_epochs, epochs=epochs, seed=5)
    evaluator = LookupEvaluator(full_table, SPACE, settings)
    expected = noise * math.sqrt(noise_epochs / epochs)
    assert settings.noise_sd == pytest.approx(expected)
    errors = [evaluator.noise(text) for text in CELLS]  # the draw each record adds
    assert all(
        evaluator.record(t).fitness[0] == SCORES[t] + e for t, e in zip(CELLS[::997], errors[::997], strict=True)
    )
    # 15,625 draws: the sample sd's relative standard error is 0.6% and the mean's is expected / 125; the
    # bounds are 10 and 8 of those (a seeded, fixed computation, so nothing to flake either).
    assert statistics.stdev(errors) == pytest.approx(expected, rel=0.06)
    assert abs(statistics.fmean(errors)) < 0.065 * expected
    assert len(set(errors)) == len(errors)


def test_a_noise_free_evaluator_adds_nothing_and_says_it_is_deterministic(full_table):
    evaluator = LookupEvaluator(full_table, SPACE, LookupSettings(noise=0.0, seed=9, epochs=3))
    assert evaluator.deterministic and evaluator.noise(A) == 0.0
    assert LookupEvaluator(full_table, SPACE, LookupSettings(noise=1e-9)).deterministic is False


def test_the_noise_is_the_same_in_another_process(full_table, tmp_path):
    """A worker process (another hash seed, the table read afresh) draws what the main process draws."""
    evaluator = LookupEvaluator(full_table, SPACE, LookupSettings(noise=0.3, noise_epochs=10, epochs=10, seed=4))
    texts = CELLS[::1500]
    (tmp_path / "evaluator.pkl").write_bytes(pickle.dumps(evaluator))
    script = (
        "import json, pickle, sys\n"
        "evaluator = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(json.dumps([evaluator.record(text).fitness[0] for text in json.loads(sys.argv[2])]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "evaluator.pkl"), json.dumps(texts)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [evaluator.record(text).fitness[0] for text in texts]


def test_a_genome_outside_the_table_is_a_table_error(tmp_path):
    path = write_table(tmp_path / "small.csv", [[A, "1"], [B, "2"]])
    evaluator = LookupEvaluator(path, SPACE)  # a small table is fine until a search reaches what it lacks
    assert evaluator.record(A).fitness == (1.0,)
    with pytest.raises(TableError) as raised:
        evaluator.record(C)
    assert str(raised.value) == f"table {path} has no row for {C}: use a table that covers the search space"


def test_a_bad_table_or_column_fails_when_the_evaluator_is_made(tmp_path):
    path = write_table(tmp_path / "small.csv", [[A, "1"], [B, "2"]])
    with pytest.raises(TableError, match="has no column 'accuracy'"):
        LookupEvaluator(path, SPACE, LookupSettings(column="accuracy"))
    with pytest.raises(TableError, match="cannot read table"):
        LookupEvaluator(tmp_path / "nowhere.csv", SPACE)
    with pytest.raises(TypeError, match="settings must be a LookupSettings"):
        LookupEvaluator(path, SPACE, {"noise": 0.1})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"noise": -0.1}, "lookup noise must be a number >= 0"),
        ({"noise": float("nan")}, "lookup noise must be a number >= 0"),
        ({"noise": float("inf")}, "lookup noise must be finite"),
        ({"noise": True}, "lookup noise must be a number >= 0"),
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"noise_epochs": 1.5}, "noise_epochs must be an integer >= 1, got 1.5"),
    ],
)
def test_lookup_settings_refuse_what_makes_no_noise(changes, message):
    with pytest.raises(ValueError, match=message):
        LookupSettings(**changes)


def test_the_fingerprint_follows_the_tables_bytes_the_column_the_noise_the_seed_and_the_epochs(tmp_path):
    rows = [[text, repr(SCORES[text]), repr(SCORES[text] / 2)] for text in (A, B, C)]
    path = write_table(tmp_path / "t.csv", rows, ("architecture", "accuracy", "half"))

    def fingerprint(table=path, **settings):
        return LookupEvaluator(table, SPACE, LookupSettings(**{"column": "accuracy", **settings})).fingerprint()

    base = fingerprint()
    assert fingerprint() == base  # stable
    moved = tmp_path / "elsewhere" / "moved.csv"
    moved.parent.mkdir()
    shutil.copyfile(path, moved)
    assert fingerprint(moved) == base  # the bytes decide, not where the file lies
    edited = tmp_path / "edited.csv"
    edited.write_bytes(Path(path).read_bytes().replace(repr(SCORES[B]).encode(), repr(SCORES[B] + 1).encode()))
    extra_line = tmp_path / "extra_line.csv"
    extra_line.write_bytes(Path(path).read_bytes() + b"\n")  # the same scores, other bytes
    others = [
        fingerprint(edited),
        fingerprint(extra_line),
        fingerprint(column="half"),
        fingerprint(noise=0.1),
        fingerprint(seed=1),
        fingerprint(epochs=2),
        fingerprint(noise=0.1, noise_epochs=2),
    ]
    assert len({base, *others}) == 1 + len(others)


def test_the_evaluator_pickles_small_without_its_table(full_table):
    evaluator = LookupEvaluator(full_table, SPACE, LookupSettings(noise=0.2, seed=3))
    assert len(evaluator.table) == 15_625
    data = pickle.dumps(evaluator)
    assert len(data) < 4_000  # the table's 15,625 rows would be a megabyte
    assert OPTIMUM.encode() not in data
    copy = pickle.loads(data)
    assert copy._table is None and evaluator._table is not None  # pickling leaves the original's table alone
    assert copy.path == evaluator.path and copy.settings == evaluator.settings and copy.space == evaluator.space
    assert copy.fingerprint() == evaluator.fingerprint() and copy.record(OPTIMUM) == evaluator.record(OPTIMUM)


# --- 3. the command line --------------------------------------------------------------------------------


def search(table, out, *extra) -> int:
    return run_cli("search", "--family", "nats", "--lookup", table, "--population", "4", "--trainings", "12",
                   *extra, "--out", out)  # fmt: skip


def test_a_lookup_search_runs_noise_free_and_skips_the_rerank(full_table, tmp_path, capsys):
    out = tmp_path / "run"
    assert search(full_table, out) == 0
    printed = capsys.readouterr().out
    assert f"nats / aging on table {full_table} (15,625 architectures, column score)" in printed
    assert "reranking skipped: this evaluation scores a genome the same every time" in printed
    rows = stored(out)
    assert len(rows) == 12 == len(stored(out, everything=True))
    assert len({row["genome"] for row in rows}) == 12
    for row in rows:
        assert row["fitness"] == [SCORES[row["genome"]]] == [row["noise_free_fitness"]]
        assert row["device"] == "table" and row["status"] == "ok"
        assert row["parameters"] == SPACE.parameters(CellGenome.from_string(row["genome"]))
    best = best_json(out)
    assert best["genome"] == max(rows, key=lambda row: row["fitness"][0])["genome"]
    assert best["noise_free_fitness"] == best["validation_fitness"] == SCORES[best["genome"]]
    assert best["evaluations"] == 12 and best["classes"] == [] and best["strategy"] == "aging"
    assert "test_accuracy" not in best and "rerank" not in best and "final_epochs" not in best
    assert not (out / "best.pt").exists()
    assert json.loads((out / "status.json").read_text())["state"] == "finished"


def test_a_noisy_lookup_search_reranks_with_fresh_noise(full_table, tmp_path, capsys):
    out = tmp_path / "run"
    assert search(full_table, out, "--lookup-noise", "0.3") == 0
    printed = capsys.readouterr().out
    assert "noise sd 0.3" in printed and "reranking the 3 best distinct genomes: 20 epochs each" in printed
    rows = stored(out)
    assert len(rows) == 12
    searched = LookupEvaluator(full_table, SPACE, LookupSettings(noise=0.3, noise_epochs=10, epochs=10, seed=0))
    for row in rows:  # --epochs 10 (the default): the noise's sd is --lookup-noise itself
        assert row["fitness"] == list(searched.record(row["genome"]).fitness)
        assert row["noise_free_fitness"] == SCORES[row["genome"]] != row["fitness"][0]
    best = best_json(out)
    reranked = LookupEvaluator(full_table, SPACE, LookupSettings(noise=0.3, noise_epochs=10, epochs=20, seed=1))
    assert best["rerank_epochs"] == 20 and len(best["rerank"]) == 3
    by_search = sorted(rows, key=lambda row: -row["fitness"][0])[:3]
    assert sorted(r["genome"] for r in best["rerank"]) == sorted(row["genome"] for row in by_search)
    for entry in best["rerank"]:  # looked up again at 2 x the epochs with the next seed
        assert entry["rerank_fitness"] == reranked.record(entry["genome"]).fitness[0]
        assert entry["search_fitness"] == searched.record(entry["genome"]).fitness[0]
    assert [e["rerank_fitness"] for e in best["rerank"]] == sorted(
        (e["rerank_fitness"] for e in best["rerank"]), reverse=True
    )
    assert best["genome"] == best["rerank"][0]["genome"]
    assert best["noise_free_fitness"] == SCORES[best["genome"]]  # the reported genome's own score in the table
    assert best["validation_fitness"] == searched.record(best["genome"]).fitness[0]
    assert "test_accuracy" not in best


@pytest.mark.parametrize(
    "strategy, extra",
    [
        ("local", ["--strategy", "local"]),
        ("surrogate", ["--strategy", "surrogate"]),
        ("ga", ["--strategy", "ga", "--generations", "2"]),
        ("random", ["--strategy", "random"]),
        ("nsga2", ["--objectives", "accuracy", "parameters", "--generations", "2"]),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_every_strategy_searches_the_table(full_table, tmp_path, strategy, extra):
    out = tmp_path / "run"
    assert search(full_table, out, *extra) == 0
    best, rows = best_json(out), stored(out)
    assert best["strategy"] == strategy and rows and len(rows) == best["evaluations"] <= 12
    for row in rows:
        assert row["fitness"][0] == SCORES[row["genome"]] == row["noise_free_fitness"]
    assert best["noise_free_fitness"] == SCORES[best["genome"]] and "rerank" not in best
    assert json.loads((out / "status.json").read_text())["state"] == "finished"
    if strategy == "nsga2":
        assert best["objectives"] == ["accuracy", "parameters"] and len(best["front"]) >= 1
        for member in best["front"]:
            genome = CellGenome.from_string(member["genome"])
            assert member["accuracy"] == SCORES[member["genome"]] and member["parameters"] == SPACE.parameters(genome)
    else:
        assert best["validation_fitness"] == max(row["fitness"][0] for row in rows)


def test_halving_on_a_table_stores_the_lower_rungs_under_their_own_fingerprints(full_table, tmp_path):
    out = tmp_path / "run"
    assert search(full_table, out, "--halving", "--generations", "2") == 0
    best, promoted, every = best_json(out), stored(out), stored(out, everything=True)
    assert best["strategy"] == "ga"  # the default strategy with --halving
    assert promoted and best["evaluations"] == len(promoted) < len(every)
    assert {row["epochs"] for row in promoted} == {10}  # the top rung: --epochs
    lower = [row for row in every if not row["main"]]
    assert lower and {row["epochs"] for row in lower} <= {1, 3}
    assert len({row["fingerprint"] for row in lower}) == len({row["epochs"] for row in lower})  # one per rung
    assert {row["genome"] for row in promoted} <= {row["genome"] for row in lower if row["epochs"] == 1}
    for row in every:
        assert row["fitness"] == [SCORES[row["genome"]]] == [row["noise_free_fitness"]]
    assert best["genome"] in {row["genome"] for row in promoted}
    assert best["noise_free_fitness"] == SCORES[best["genome"]]


def _duplicate_row(tmp):
    return write_table(tmp / "dup.csv", [[A, "1"], [B, "2"], [A, "3"]])


def _long_row(tmp):
    return write_table(tmp / "long.csv", [[A, "1"], [B, "2", "3"]])


def _partial(tmp):
    return write_table(tmp / "partial.csv", [[text, repr(SCORES[text])] for text in CELLS if text != D])


#: (name, table writer or None for the full table, extra arguments, exit status, message fragment).
CLI_ERRORS = [
    ("duplicate-row", _duplicate_row, [], 1, "dup.csv, line 4: architecture " + A + " is listed twice; keep one row"),
    ("wrong-field-count", _long_row, [], 1, "long.csv, line 3: 3 fields under a header of 2"),
    ("missing-table", lambda tmp: str(tmp / "nowhere.csv"), [], 1, "nowhere.csv: No such file or directory; give"),
    (
        "missing-column",
        None,
        ["--lookup-column", "accuracy"],
        1,
        "has no column 'accuracy'; its columns are architecture, score (--lookup-column)",
    ),
    (
        "missing-cells",
        _partial,
        [],
        1,
        f"partial.csv lacks 1 of the space's 15,625 architectures (e.g. {D}): a search may reach any of them",
    ),
    ("another-familys-table", None, ["--family", "cnn-ga"], 1, "nats.csv, line 2: cannot parse gene"),
    (
        "noise-without-lookup",
        False,
        ["--lookup-noise", "0.1"],
        2,
        "--lookup-column and --lookup-noise describe a --lookup table: add --lookup TABLE.csv",
    ),
    ("column-without-lookup", False, ["--lookup-column", "score"], 2, "describe a --lookup table: add --lookup"),
    (
        "lookup-with-inherit",
        None,
        ["--inherit"],
        2,
        "--inherit passes trained weights on, but a --lookup run trains nothing: drop --inherit",
    ),
    (
        "lookup-with-halving-continue",
        None,
        ["--halving", "--halving-continue"],
        2,
        "--halving-continue continues trainings, but a --lookup run trains nothing: use --halving alone",
    ),
    ("negative-noise", None, ["--lookup-noise", "-1"], 2, "--lookup-noise -1.0: out of range, accepted: >= 0"),
    ("nan-noise", None, ["--lookup-noise", "nan"], 2, "--lookup-noise nan: must be a finite number"),
    ("text-noise", None, ["--lookup-noise", "some"], 2, "argument --lookup-noise: expected a number, got 'some'"),
]


@pytest.mark.parametrize("name, write, extra, status, message", CLI_ERRORS, ids=[case[0] for case in CLI_ERRORS])
def test_a_bad_lookup_is_one_line_its_status_and_nothing_written(
    full_table, tmp_path, capsys, name, write, extra, status, message
):
    out = tmp_path / "run"
    lookup = [] if write is False else ["--lookup", full_table if write is None else write(tmp_path)]
    argv = ["search", "--family", "nats", *lookup, "--population", "4", "--trainings", "12", *extra, "--out", out]
    assert run_cli(*argv) == status
    err = one_line_error(capsys)
    assert message in err, err
    assert nothing_written(out), sorted(p.name for p in out.iterdir())


# --- 4. resume ------------------------------------------------------------------------------------------


def _interrupt_at(monkeypatch, call: int, exception):
    """Make the ``call``-th lookup raise ``exception`` (a Ctrl-C in the middle of the search)."""
    record = LookupEvaluator.record
    calls = [0]

    def interrupted(self, genome):
        calls[0] += 1
        if calls[0] == call:
            raise exception
        return record(self, genome)

    monkeypatch.setattr(LookupEvaluator, "record", interrupted)


def test_an_interrupted_lookup_run_resumes_to_the_uninterrupted_result(full_table, tmp_path, capsys, monkeypatch):
    common = ["--lookup-noise", "0.3", "--seed", "3"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert search(full_table, whole, *common) == 0
    with monkeypatch.context() as patch:
        _interrupt_at(patch, 7, RunInterrupted(signal.SIGINT))  # what Ctrl-C raises inside a run
        capsys.readouterr()
        assert search(full_table, cut, *common) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"interrupted: resume with deap-cnn resume {cut}"
    status = json.loads((cut / "status.json").read_text())
    assert status["state"] == "interrupted" and status["resume"] == f"deap-cnn resume {cut}"
    assert status["evaluations"] == 6 == len(stored(cut))  # the six lookups before the seventh
    assert not (cut / "best.json").exists()

    assert run_cli("resume", cut) == 0
    pairs = [(row["genome"], row["fitness"]) for row in stored(cut)]
    assert pairs == [(row["genome"], row["fitness"]) for row in stored(whole)]  # same rows, same order
    assert len(pairs) == 12 == len({genome for genome, _ in pairs})  # nothing lost, nothing twice
    assert len(stored(cut, everything=True)) == 12
    resumed, uninterrupted = best_json(cut), best_json(whole)
    for key in ("genome", "fitness", "noise_free_fitness", "rerank", "evaluations"):
        assert resumed[key] == uninterrupted[key], key
    assert json.loads((cut / "status.json").read_text())["state"] == "finished"


def test_a_plain_keyboard_interrupt_marks_the_folder_interrupted(full_table, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    _interrupt_at(monkeypatch, 3, KeyboardInterrupt())
    assert search(full_table, out) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"interrupted: resume with deap-cnn resume {out}"
    assert json.loads((out / "status.json").read_text())["state"] == "interrupted"


# --- exporting the official NATS-Bench file ---------------------------------------------


class FakeNatsApi:
    """What the exporter reads of NATS-Bench's topology API: the cells by index and a metric per cell."""

    def __init__(self, scores):
        self.cells = list(scores)
        self.scores = scores
        self.asked = []

    def __len__(self):
        return len(self.cells)

    def arch(self, index):
        return self.cells[index]

    def get_more_info(self, index, dataset, hp="12", is_random=True):
        self.asked.append((dataset, hp, is_random))
        return {"test-accuracy": self.scores[self.cells[index]], "valid-accuracy": None}


def test_nats_bench_exports_to_a_table_a_search_reads(full_table, tmp_path, monkeypatch):
    import sys
    import types

    from deap_cnn.lookup.nats_bench import export_topology_table

    scores = load_table(full_table, SPACE).scores
    api = FakeNatsApi(scores)
    fake = types.ModuleType("nats_bench")
    fake.create = lambda path, space, fast_mode=False, verbose=True: api
    monkeypatch.setitem(sys.modules, "nats_bench", fake)
    (tmp_path / "NATS-tss").mkdir()
    out = tmp_path / "exported.csv"
    assert main(["nats-table", str(tmp_path / "NATS-tss"), "--out", str(out)]) == 0
    table = load_table(out, SPACE)
    assert table.column == "cifar10_test_accuracy_200_epochs" and table.scores == scores
    assert set(api.asked) == {("cifar10", "200", False)}  # the mean over the benchmark's seeds
    with pytest.raises(TableError, match="no valid-accuracy for cifar10 after 200 epochs"):
        export_topology_table(None, tmp_path / "v.csv", metric="valid-accuracy", api=api)
    assert not (tmp_path / "v.csv").exists()
    # Two training lengths: a column each, read back as the fidelities of a search.
    both = tmp_path / "both.csv"
    assert main(["nats-table", str(tmp_path / "NATS-tss"), "--hp", "12", "200", "--out", str(both)]) == 0
    assert both.read_text().splitlines()[0] == (
        "architecture,cifar10_test_accuracy_12_epochs,cifar10_test_accuracy_200_epochs"
    )
    assert ("cifar10", "12", False) in api.asked
    assert load_table(both, SPACE, "cifar10_test_accuracy_12_epochs").scores == scores


def test_exporting_without_nats_bench_or_its_file_is_one_line(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "nats_bench", None)  # not installed
    assert main(["nats-table", str(tmp_path), "--out", str(tmp_path / "t.csv")]) == 1
    assert "pip install deap_cnn[nats]" in capsys.readouterr().err
    assert main(["nats-table", str(tmp_path), "--out", str(tmp_path / "t.csv"), "--dataset", "mnist"]) == 1
    assert "unknown NATS-Bench data set 'mnist'" in capsys.readouterr().err
