"""Every bad input and every failure: one clear line, a non-zero exit, and a run folder that still works.

Each bad input goes through ``deap_cnn.runs.cli.main`` in this process (fast)
and must give its exit status, one ``error: ...`` line naming the problem,
and leave the run folder free for the corrected command. A few run again
as ``python -m scoop`` subprocesses; a search is stopped with SIGTERM and
resumed to the uninterrupted result; populations of odd and tiny sizes and
a space of one genome run to the end under every strategy.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deap_cnn.families import get_family
from deap_cnn.families.cnn_ga.space import SearchSpace
from deap_cnn.runs.cli import main
from deap_cnn.runs.folder import RunFolder
from deap_cnn.search.strategies import Budget, SearchContext, get_strategy

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TINY = [
    "--population",
    "2",
    "--generations",
    "1",
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
]


@pytest.fixture(autouse=True)
def cpu_only(monkeypatch, tmp_path):
    monkeypatch.setenv("DEAP_CNN_DEVICE", "cpu")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-hub"))  # no pretrained weights to find
    monkeypatch.chdir(tmp_path)


# --- bad files, written into tmp_path ------------------------------------------------------------------


def _arrays(**changes):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 255, (40, 8, 8), dtype=np.uint8),
        "y_train": np.arange(40) % 4,
        "x_test": rng.integers(0, 255, (12, 8, 8), dtype=np.uint8),
        "y_test": np.arange(12) % 4,
    }
    arrays.update(changes)
    return {key: value for key, value in arrays.items() if value is not None}


def npz(**changes):
    def write(tmp):
        np.savez(tmp / "data.npz", **_arrays(**changes))
        return str(tmp / "data.npz")

    return write


def raw_file(content: bytes, name="data.npz"):
    def write(tmp):
        (tmp / name).write_bytes(content)
        return str(tmp / name)

    return write


def truncated_npz(tmp):
    npz()(tmp)
    content = (tmp / "data.npz").read_bytes()
    (tmp / "data.npz").write_bytes(content[: len(content) // 2])
    return str(tmp / "data.npz")


def single_array_npz(tmp):
    np.save(tmp / "data.npy", np.zeros((40, 8, 8), np.uint8))
    (tmp / "data.npy").rename(tmp / "data.npz")
    return str(tmp / "data.npz")


def corrupt_npz(tmp):
    """A whole zip archive whose compressed x_train is overwritten with other bytes."""
    np.savez_compressed(tmp / "data.npz", **_arrays())
    content = bytearray((tmp / "data.npz").read_bytes())
    start = content.index(b"x_train.npy") + 40
    content[start : start + 200] = bytes(200)
    (tmp / "data.npz").write_bytes(bytes(content))
    return str(tmp / "data.npz")


def _png(path, size=(8, 8)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], 128, np.uint8)).save(path)


def image_tree(bad=None):
    """``images/train|test/<a|b>/*.png``; ``bad`` adds one broken entry."""

    def write(tmp):
        root = tmp / "images"
        for split in ("train", "test"):
            for label in ("a", "b"):
                for index in range(3):
                    _png(root / split / label / f"{index}.png")
        if bad == "not-an-image":
            (root / "train" / "a" / "notes.png").write_text("these are my notes, not an image")
        elif bad == "corrupt-png":
            content = (root / "train" / "a" / "0.png").read_bytes()
            (root / "train" / "a" / "0.png").write_bytes(content[:20])
        elif bad == "mixed-sizes":
            _png(root / "train" / "b" / "big.png", size=(12, 10))
        elif bad == "one-class":
            for split in ("train", "test"):
                for file in (root / split / "b").iterdir():
                    file.unlink()
                (root / split / "b").rmdir()
        return str(root)

    return write


def empty_folder(tmp):
    (tmp / "empty").mkdir()
    return str(tmp / "empty")


def empty_image_tree(tmp):
    for split in ("train", "test"):
        (tmp / "images" / split / "a").mkdir(parents=True)
    return str(tmp / "images")


# (id, data writer or None, extra arguments, status, a piece of the message)
DATA = [
    (
        "npz-text",
        raw_file(b"x_train,y_train\n0,1\n" * 8),
        [],
        1,
        "data.npz' is not a numpy .npz archive: it holds text, starting 'x_train,y_train\\n0,1",
    ),
    ("npz-binary-garbage", raw_file(bytes(range(256))), [], 1, "is not a numpy .npz archive: it starts with the bytes"),
    ("npz-single-array", single_array_npz, [], 1, "is not a numpy .npz archive: it holds a single array, as np.save"),
    ("npz-empty-file", raw_file(b""), [], 1, "is not a numpy .npz archive: the file is empty"),
    ("npz-truncated", truncated_npz, [], 1, "data.npz' is a damaged .npz archive"),
    ("npz-corrupt-member", corrupt_npz, [], 1, "data.npz' is a damaged .npz archive"),
    (
        "npz-wrong-keys",
        lambda tmp: np.savez(tmp / "keys.npz", images=np.zeros((4, 8, 8))) or str(tmp / "keys.npz"),
        [],
        1,
        "missing key 'x_train'",
    ),
    ("npz-missing-key", npz(y_test=None), [], 1, "missing key 'y_test'"),
    ("npz-count-mismatch", npz(y_train=np.arange(39) % 4), [], 1, "40 images but 39 labels"),
    ("npz-label-negative", npz(y_train=-(np.arange(40) % 4)), [], 1, "labels out of range"),
    ("npz-label-past-classes", npz(classes=np.array(["a", "b"])), [], 1, "labels out of range"),
    ("npz-float-labels", npz(y_train=np.arange(40) % 4 + 0.5), [], 1, "not a whole number"),
    ("npz-float-images", npz(x_train=np.linspace(-900, 900, 40 * 64).reshape(40, 8, 8)), [], 1, "outside [0, 255]"),
    ("npz-nan-images", npz(x_train=np.full((40, 8, 8), np.nan)), [], 1, "holds NaN values"),
    (
        "npz-channel-less",
        npz(x_train=np.zeros((40, 64), np.uint8), x_test=np.zeros((12, 64), np.uint8)),
        [],
        1,
        "wrong ndim for x_train",
    ),
    ("npz-one-class", npz(y_train=np.zeros(40, int), y_test=np.zeros(12, int)), [], 1, "at least 2"),
    ("npz-sizes-differ", npz(x_test=np.zeros((12, 9, 9), np.uint8)), [], 1, "resize one set"),
    ("npz-empty-train", npz(x_train=np.zeros((0, 8, 8), np.uint8), y_train=np.zeros(0, int)), [], 1, "empty train"),
    ("npz-missing-file", lambda tmp: str(tmp / "nowhere.npz"), [], 1, "no such .npz file"),
    ("folder-empty", empty_folder, [], 1, "holds neither the four IDX files nor train/"),
    ("tree-no-images", empty_image_tree, [], 1, "no images in"),
    ("tree-not-an-image", image_tree("not-an-image"), [], 1, "cannot read image"),
    ("tree-corrupt-png", image_tree("corrupt-png"), [], 1, "cannot read image"),
    ("tree-mixed-sizes", image_tree("mixed-sizes"), [], 1, "images differ in size"),
    ("tree-one-class", image_tree("one-class"), [], 1, "at least 2"),
    ("data-unknown-name", lambda tmp: "imagenet-22k", [], 1, "unknown data source"),
    ("cifar-not-there", lambda tmp: "cifar10", ["--data-dir", "nowhere"], 1, "download is off"),
]

SETTINGS = [
    ("population-0", ["--population", "0"], 2, "--population 0: out of range, accepted: >= 1"),
    ("population-negative", ["--population", "-1"], 2, "--population -1: out of range"),
    ("generations-negative", ["--generations", "-2"], 2, "--generations -2: out of range"),
    ("epochs-0", ["--epochs", "0"], 2, "--epochs 0: out of range"),
    ("batch-size-0", ["--batch-size", "0"], 2, "--batch-size 0: out of range"),
    ("lr-nan", ["--lr", "nan"], 2, "--lr nan: must be a finite number"),
    ("lr-inf", ["--lr", "inf"], 2, "--lr inf: must be a finite number"),
    ("lr-negative", ["--lr", "-0.1"], 2, "--lr -0.1: out of range"),
    ("widths-0", ["--widths", "0"], 2, "--widths 0: out of range"),
    ("cxpb-2", ["--cxpb", "2"], 2, "--cxpb 2.0: out of range, accepted: [0, 1]"),
    ("mutpb-negative", ["--mutpb", "-0.5"], 2, "--mutpb -0.5: out of range"),
    ("halving-eta-1", ["--halving", "--halving-eta", "1"], 2, "--halving-eta 1.0: out of range"),
    ("max-batches-0", ["--max-batches", "0"], 2, "--max-batches 0: out of range"),
    ("time-budget-0", ["--time-budget", "0"], 2, "--time-budget 0.0: out of range"),
    ("trainings-0", ["--strategy", "random", "--trainings", "0"], 2, "--trainings 0: out of range"),
    ("device-bogus", ["--device", "bogus"], 2, "--device bogus"),
    ("device-cuda-9", ["--device", "cuda:9"], 2, "--device cuda:9"),
    ("augment-unknown", ["--augment", "rotate"], 2, "--augment rotate: not one of"),
    ("engine-unknown", ["--engine", "mpi"], 2, "--engine mpi: not one of"),
    ("family-unknown", ["--family", "resnet"], 2, "unknown family 'resnet'"),
    ("strategy-unknown", ["--strategy", "annealing"], 2, "unknown strategy 'annealing'"),
    ("backbone-unknown", ["--family", "transfer", "--backbone", "resnet9000"], 2, "--backbone resnet9000"),
    ("weights-missing", ["--family", "transfer", "--backbone", "resnet18", "--weights", "gone.pt"], 1, "gone.pt"),
    ("objectives-order", ["--objectives", "flops", "accuracy"], 2, "the first, flops, is a size"),
]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in err
    return err


def _assert_not_poisoned(out: Path):
    """The failed start left no run behind: the corrected command may use the folder."""
    assert not RunFolder(out).holds_run(), sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize("name, write, extra, status, message", DATA, ids=[case[0] for case in DATA])
def test_bad_data_is_one_line_and_leaves_the_folder_free(tmp_path, capsys, name, write, extra, status, message):
    out = tmp_path / "run"
    data = write(tmp_path)
    assert main(["search", *TINY, "--data", data, *extra, "--out", out]) == status
    assert message in _one_line_error(capsys)
    if out.exists():
        _assert_not_poisoned(out)


@pytest.mark.parametrize("name, extra, status, message", SETTINGS, ids=[case[0] for case in SETTINGS])
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, capsys, name, extra, status, message):
    out = tmp_path / "run"
    assert main(["search", *TINY, *extra, "--out", out]) == status
    assert message in _one_line_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["search", "--population", "many"],
            (
                "error: deap-cnn search: argument --population: expected an integer, "
                "got 'many'; see deap-cnn search --help"
            ),
        ),
        (["search", "--widths"], "argument --widths: expected at least one argument"),
        (["search", "--bogus"], "unrecognized arguments: --bogus; see deap-cnn --help"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_argparse_errors_are_one_line_exit_2_without_a_traceback(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "usage:" not in err and "Traceback" not in err


def test_help_still_prints_the_whole_usage(capsys):
    assert main(["search", "--help"]) == 0
    assert "usage: deap-cnn search" in capsys.readouterr().out


def test_a_failed_start_leaves_the_folder_to_the_corrected_command(tmp_path, capsys):
    out = tmp_path / "run"
    npz(y_train=np.arange(39) % 4)(tmp_path)
    assert main(["search", *TINY, "--data", tmp_path / "data.npz", "--out", out]) == 1
    npz()(tmp_path)
    assert main(["search", *TINY, "--data", tmp_path / "data.npz", "--out", out]) == 0
    assert json.loads((out / "status.json").read_text())["state"] == "finished"


# --- run folders ----------------------------------------------------------------------------------------


def _finished_run(tmp_path) -> Path:
    out = tmp_path / "done"
    assert main(["search", *TINY, "--out", out]) == 0
    return out


def _snapshot(folder: Path) -> dict:
    # status.json and the lock (it names the last writer) may change; nothing else may
    return {
        p.name: p.read_bytes()
        for p in folder.iterdir()
        if p.is_file() and p.name not in ("status.json", ".deap-cnn.lock")
    }


def test_resume_of_nothing(tmp_path, capsys):
    assert main(["resume", tmp_path / "nowhere"]) == 1
    assert "nothing to resume" in _one_line_error(capsys)
    assert not (tmp_path / "nowhere").exists()


def test_resume_of_a_damaged_config(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{ half a")
    assert main(["resume", tmp_path / "run"]) == 1
    assert "config.json cannot be read" in _one_line_error(capsys)


@pytest.mark.parametrize("damage", ["checkpoint", "store"])
def test_a_truncated_checkpoint_or_store_is_named_and_left_alone(tmp_path, capsys, damage):
    out = _finished_run(tmp_path)
    capsys.readouterr()
    target = out / ("checkpoint.json" if damage == "checkpoint" else "results.sqlite")
    target.write_bytes(target.read_bytes()[:100])
    before = _snapshot(out)
    assert main(["resume", out, "--generations", "2"]) == 1
    err = _one_line_error(capsys)
    assert target.name in err and ("damaged" in err or "cannot be used" in err), err
    assert _snapshot(out) == before  # nothing more broken: restore the file and resume
    assert main(["search", *TINY, "--out", out]) == 1  # still a run: a new search is refused
    assert "already holds a run" in _one_line_error(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder(tmp_path, capsys):  # pragma: no cover - CI runs as root here
    (tmp_path / "ro").mkdir(mode=0o555)
    assert main(["search", *TINY, "--out", tmp_path / "ro" / "run"]) == 1
    assert "choose a writable --out" in _one_line_error(capsys)


def test_an_unwritable_out_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert main(["search", *TINY, "--out", tmp_path / "file" / "run"]) == 1
    assert "choose a writable --out" in _one_line_error(capsys)


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("unreachable", [True, False], ids=["nothing-listens", "malformed-address"])
def test_a_dask_scheduler_out_of_reach_is_one_line_and_leaves_no_folder(tmp_path, capsys, monkeypatch, unreachable):
    pytest.importorskip("distributed")
    from deap_cnn.engines import dask_engine

    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", 0.5)  # distributed retries a refused port until then
    address = f"tcp://127.0.0.1:{_unused_port()}" if unreachable else "head-node"
    out = tmp_path / "run"
    assert main(["search", *TINY, "--engine", "dask", "--scheduler", address, "--out", out]) == 1
    err = _one_line_error(capsys)
    assert address in err
    if unreachable:
        assert "check that the scheduler is running" in err and "port" in err and "firewall" in err, err
    else:
        assert "write it as tcp://HOST:PORT" in err, err
    assert not out.exists()


def test_a_run_that_never_finished_a_generation_resumes_cleanly(tmp_path, capsys):
    out = tmp_path / "run"
    RunFolder(out).claim(_config(tmp_path, out))  # as a start killed before its first evaluation
    (out / "status.json").write_text('{"state": "running"}')
    assert main(["resume", out]) == 0
    assert json.loads((out / "status.json").read_text())["state"] == "finished"


def _config(tmp_path, out) -> dict:
    from deap_cnn.runs.cli import build_parser
    from deap_cnn.runs.config import config_from_args

    args = build_parser().parse_args(["search", *TINY, "--out", str(out)])
    return config_from_args(args).to_dict()


GARBAGE_GENOMES = [
    ("cnn-ga", (1, 28, 28), "S4-Q9", "cannot parse gene 'Q9'"),
    ("cnn-ga", (1, 28, 28), "", "must be non-empty"),
    ("cnn-ga", (1, 28, 28), "S99999", "99999"),
    ("devol", (1, 28, 28), "C+32,relu|sgd", "cannot parse"),
    ("dense", (64,), "garbage", "cannot parse hidden layer 'garbage'"),
    ("cnn-ga+hyper", (1, 28, 28), "S4|lr=fast", "lr"),
]


@pytest.mark.parametrize(
    "family, shape, text, message", GARBAGE_GENOMES, ids=[f"{g[0]}:{g[2]}" for g in GARBAGE_GENOMES]
)
def test_garbage_genome_text_is_refused_in_one_line(family, shape, text, message):
    from deap_cnn.families import GenomeError, SearchSpaceError

    space = get_family(family).space(shape, 10, {"widths": (4, 8)} if family.startswith("cnn-ga") else {})
    with pytest.raises((GenomeError, SearchSpaceError)) as raised:
        space.validate(text)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_crash_before_the_first_evaluation_leaves_the_folder_reusable(tmp_path, capsys, monkeypatch):
    from deap_cnn.training.evaluator import Evaluator

    def crash(self, genome):
        raise MemoryError("out of memory while building the first network")

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(Evaluator, "record", crash)
        assert main(["search", *TINY, "--out", out]) == 1
    assert json.loads((out / "status.json").read_text())["state"] == "failed"
    _assert_not_poisoned(out)
    capsys.readouterr()
    assert main(["search", *TINY, "--out", out]) == 0  # the same command, now that memory is there


def test_an_interrupt_before_the_run_started_says_to_run_the_command_again(tmp_path, capsys, monkeypatch):
    from deap_cnn.runs import runner

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "compose", interrupted)  # Ctrl-C while the data loads
    assert main(["search", *TINY, "--out", tmp_path / "run"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted: the run had not started; run the same command again"
    assert not (tmp_path / "run").exists()


def test_stop_on_signals_turns_sigterm_into_run_interrupted_and_restores_the_handlers():
    from deap_cnn.runs.interrupts import RunInterrupted, exit_status, stop_on_signals

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunInterrupted) as raised, stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises long before this ends
    assert raised.value.signum == signal.SIGTERM and exit_status(raised.value) == 143
    assert signal.getsignal(signal.SIGTERM) is before


def test_resume_says_which_settings_differ_and_what_happens(tmp_path, capsys):
    out = _finished_run(tmp_path)
    capsys.readouterr()
    assert main(["search", *TINY, "--epochs", "2", "--generations", "0", "--out", out, "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "ignored: epochs=2 (saved 1)" in printed
    assert "--generations 0 is fewer than the saved 1" in printed


def test_a_bug_keeps_its_traceback_once_and_exits_1(tmp_path, capsys, monkeypatch):
    from deap_cnn.runs import runner

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(runner, "_write_outputs", broken)
    out = tmp_path / "run"
    assert main(["search", *TINY, "--out", out]) == 1
    err = capsys.readouterr().err
    assert err.count("Traceback") == 1 and "ZeroDivisionError: a bug" in err
    assert err.strip().splitlines()[-1].startswith("error: unexpected ZeroDivisionError")
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "a bug" in status["message"]


# --- edge populations under every strategy --------------------------------------------------------------

SINGLE = SearchSpace(
    input_shape=(1, 8, 8), n_classes=2, widths=(4,), min_skip_units=1, max_skip_units=1, max_pool_units=0
)


def _spaces():
    return {
        "one-genome": SINGLE,
        "small": get_family("cnn-ga").space((1, 28, 28), 10, {"widths": (4, 8), "max_skip_units": 2}),
    }


class FakeEvaluate:
    """A fast fake evaluation: a fitness drawn from the genome text (and its length as a size)."""

    def __init__(self, objectives):
        self.objectives = objectives

    def __call__(self, genome):
        rng = random.Random(str(genome))
        return (rng.random(), float(len(str(genome))))[: self.objectives]


@pytest.mark.parametrize("strategy", ["ga", "nsga2", "random", "tpe"])
@pytest.mark.parametrize("population", [1, 2, 3, 5])
@pytest.mark.parametrize("space_name", ["one-genome", "small"])
def test_tiny_odd_and_collapsed_populations_run_to_the_end(monkeypatch, strategy, population, space_name):
    from deap_cnn.search import ga

    space = _spaces()[space_name]
    objectives = 2 if strategy == "nsga2" else 1
    offered = []
    original = ga.vary_cnn_ga

    def counting_vary(pop, toolbox, cxpb, mutpb, *rest):
        offspring = original(pop, toolbox, cxpb, mutpb, *rest)
        offered.append((len(pop), len(offspring)))
        return offspring

    monkeypatch.setattr(ga, "vary_cnn_ga", counting_vary)
    outcome = get_strategy(strategy).run(
        get_family("cnn-ga"),
        space,
        FakeEvaluate(objectives),
        Budget(population, 3),
        SearchContext(weights=(1.0, -1.0)[:objectives], seed=1),
    )
    assert outcome.best and all(ind.fitness.valid for ind in outcome.best)
    if strategy in ("ga", "nsga2"):
        assert len(outcome.logbook) == 4  # generation 0 and three more
        assert offered == [(population, population)] * 3  # the offspring count is the population's
    elif space_name == "one-genome":
        assert outcome.trainings == 1  # one possible genome: trained once, then the store answers
    else:
        assert outcome.trainings <= population * 4
    if space_name == "one-genome":
        assert {str(ind) for ind in outcome.best} == {"S4"}


def test_a_population_collapsed_to_one_architecture_keeps_its_size():
    from deap_cnn.search.ga import vary_cnn_ga

    family = get_family("cnn-ga")
    space = _spaces()["small"]
    toolbox = family.toolbox(space, FakeEvaluate(1), map)
    random.seed(0)
    first = toolbox.population(n=1)[0]
    first.fitness.values = (0.5,)
    for size in (1, 2, 3, 5):
        population = [toolbox.clone(first) for _ in range(size)]
        offspring = vary_cnn_ga(population, toolbox, cxpb=1.0, mutpb=1.0)
        assert len(offspring) == size
        for child in offspring:
            space.validate(str(child))


# --- as users start it: python -m scoop, and SIGTERM ----------------------------------------------------


#: What a shell sees when a run under ``python -m scoop`` fails: SCOOP's launcher exits with the status of its
#: intermediate ``scoop.launch`` process, which the origin ends with SIGTERM (256 - 15); see docs/failures.md.
SCOOP_FAILURE = 241


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "DEAP_CNN_DEVICE": "cpu"}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--population", "0"], "--population 0: out of range"),
        (["--lr", "nan"], "--lr nan: must be a finite number"),
        (["--data", "nowhere.npz"], "no such .npz file"),
        (["--population", "many"], "expected an integer"),
    ],
)
def test_under_scoop_a_failure_exits_non_zero_with_one_line(tmp_path, extra, message):
    command = [
        PYTHON,
        "-m",
        "scoop",
        "-n",
        "1",
        str(ROOT / "benchmarks" / "sample.py"),
        *extra,
        "--out",
        str(tmp_path / "run"),
    ]
    done = subprocess.run(command, check=False, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == SCOOP_FAILURE, done.stderr
    ours = [line for line in done.stderr.splitlines() if "error:" in line and not line.startswith("[")]  # not SCOOP's
    assert len(ours) == 1 and message in ours[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not RunFolder(tmp_path / "run").holds_run()


def test_under_scoop_a_bug_prints_its_traceback_once_and_exits_non_zero(tmp_path):
    script = tmp_path / "bug.py"
    script.write_text(
        "from deap_cnn.runs.cli import run_guarded\n\n"
        "def broken():\n    return 1 / 0\n\n"
        "if __name__ == '__main__':\n    run_guarded(broken)\n"
    )
    done = subprocess.run(
        [PYTHON, "-m", "scoop", "-n", "1", str(script)],
        check=False,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == SCOOP_FAILURE, done.stderr
    assert done.stderr.count("Traceback") == 1 and done.stderr.count("ZeroDivisionError: division by zero") == 1
    assert "error: unexpected ZeroDivisionError" in done.stderr


SIGTERM_RUN = [
    "search",
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
    "2",
    "--final-epochs",
    "0",
    "--seed",
    "3",
]


def _stored(folder) -> list:
    try:
        with sqlite3.connect(f"file:{Path(folder) / 'results.sqlite'}?mode=ro", uri=True) as db:
            return sorted(db.execute("SELECT genome, fitness FROM evaluations").fetchall())
    except sqlite3.Error:
        return []


def test_sigterm_stops_the_run_and_resume_finishes_it_as_if_never_stopped(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    command = [PYTHON, "-m", "deap_cnn", *SIGTERM_RUN]
    process = subprocess.Popen(
        [*command, "--out", str(cut)],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300  # a shared, loaded CPU can be 20 times slower than an idle one
    while len(_stored(cut)) < 5 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # past generation 0: a checkpoint exists, generation 1 is training
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert err.strip().splitlines()[-1] == f"interrupted: resume with deap-cnn resume {cut}"
    status = json.loads((cut / "status.json").read_text())
    assert status["state"] == "interrupted" and status["resume"] == f"deap-cnn resume {cut}"
    assert not (cut / "best.json").exists()

    resumed = subprocess.run(
        [PYTHON, "-m", "deap_cnn", "resume", str(cut)],
        check=False,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    finished = subprocess.run(
        [*command, "--out", str(whole)],
        check=False,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr
    cut_best, whole_best = (json.loads((f / "best.json").read_text()) for f in (cut, whole))
    assert cut_best["genome"] == whole_best["genome"] and cut_best["fitness"] == whole_best["fitness"]
    assert _stored(cut) == _stored(whole)


@pytest.mark.parametrize(
    "command, status, message",
    [
        (["examples/devol_sample.py", "--population", "0"], 2, "--population: 0: out of range, accepted: >= 1"),
        (["examples/dense_digits.py", "--generations", "-1"], 2, "--generations: -1: out of range, accepted: >= 0"),
        (["examples/hyper_sample.py", "--epochs", "0"], 2, "--epochs: 0: out of range, accepted: >= 1"),
        (["-m", "deap_cnn.runs.importance", "nowhere.sqlite"], 1, "no results store at 'nowhere.sqlite'"),
        (["-m", "deap_cnn.runs.report", "nowhere"], 1, "nowhere"),
        (["benchmarks/sample.py", "--lr", "nan"], 2, "--lr nan: must be a finite number"),
    ],
    ids=["devol-example", "dense-example", "hyper-example", "importance-main", "report-main", "sample-preset"],
)
def test_examples_and_module_mains_give_one_line_and_their_status(tmp_path, command, status, message):
    if command[0].endswith(".py"):
        command = [str(ROOT / command[0]), *command[1:]]
    done = subprocess.run(
        [PYTHON, *command, "--out", str(tmp_path / "run")],
        check=False,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == status, done.stderr
    assert message in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()
