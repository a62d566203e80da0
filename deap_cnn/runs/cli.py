"""``deap-cnn``: one command line for every family and strategy.

    deap-cnn search --family devol --strategy nsga2 --objectives accuracy parameters --data sample --out runs/x
    deap-cnn resume runs/x [--generations 30]
    deap-cnn best runs/x [--export winner.onnx]  # or .pt2, .ts, .pt; model-card.md
    deap-cnn predict runs/x photos/ [--format onnx]  # class and probability per image
    deap-cnn importance runs/x          # hyperparameter genes against fitness (--hyper runs)
    deap-cnn report runs/x [--serve]    # runs/x/report.html, or a live view on 127.0.0.1
    deap-cnn nats-table FILE --out t.csv  # NATS-Bench's results as a --lookup table
    deap-cnn families | strategies

Also ``python -m deap_cnn ...``. Exit status: 0 done, 2 a usage error (a
setting out of range, an unknown family), 1 any other failure, 130 when
interrupted by Ctrl-C and 143 by SIGTERM; every error is one line that says
what to do. A bug (any other exception) prints its traceback once and exits
1. :func:`run_main` is the one place that turns this status into the
process's exit, also under SCOOP (see docs/failures.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from ..engines import LostWorkerError
from .config import ConfigError, SearchConfig, add_arguments, config_from_args
from .folder import resume_command
from .interrupts import exit_status

__all__ = ["main", "build_parser", "run_main", "status_of", "exit_with", "run_guarded"]

USAGE_ERROR = 2
FAILURE = 1
INTERRUPTED = 130
BUG = 1


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line, like every other error of the command line.

    argparse prints the whole usage block (30 lines for ``search``) before
    its message; the message already names the option, so the block only
    hides it. ``--help`` still prints everything.
    """

    def error(self, message):
        self.exit(USAGE_ERROR, f"error: {self.prog}: {message}; see {self.prog} --help\n")


def build_parser(defaults: SearchConfig | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="deap-cnn", description="Evolve neural network architectures with DEAP (CNN-GA and friends)."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    search = commands.add_parser("search", help="run a search in a new run folder")
    add_arguments(search, defaults)
    search.add_argument("--resume", action="store_true", help="continue the run in --out instead (as deap-cnn resume)")
    resume = commands.add_parser("resume", help="continue the run in RUN (same settings; --generations may grow)")
    resume.add_argument("run", help="the run folder")
    resume.add_argument("--generations", type=int, default=None, help="run to this many generations instead")
    resume.add_argument("--engine", default=None, help="engine for the rest of the run (auto, serial, scoop, dask)")
    resume.add_argument(
        "--trust-pickle-checkpoint",
        action="store_true",
        help="convert the checkpoint.pkl of deap_cnn before 0.2 to checkpoint.json (only for a folder you made: "
        "loading a pickle can run code)",
    )
    best = commands.add_parser("best", help="print the best architecture of RUN and export its network")
    best.add_argument("run", help="the run folder")
    best.add_argument(
        "--export",
        default=None,
        metavar="PATH",
        help="write the retrained network to PATH, the format by its suffix: .onnx, .pt2 (torch.export), .ts "
        "(TorchScript), .pt (deap_cnn's weights and JSON); checked against PyTorch on the run's data",
    )
    predict = commands.add_parser("predict", help="the winner of RUN's class and probability for each image")
    predict.add_argument("run", help="the run folder (finished, with retrained weights)")
    predict.add_argument("images", nargs="+", help="image files or folders of them")
    predict.add_argument("--format", dest="model_format", choices=("pytorch", "onnx"), default="pytorch",
                         help="score with the PyTorch network (default) or the exported ONNX file")  # fmt: skip
    predict.add_argument("--model", default=None, help="the .onnx file for --format onnx (default RUN/best.onnx, "
                         "exported there when missing)")  # fmt: skip
    predict.add_argument("--out", default=None, help="write a CSV (image, class, probability) instead of printing")
    importance = commands.add_parser("importance", help="plot each hyperparameter gene of RUN against fitness")
    importance.add_argument("run", help="the run folder of a --hyper run")
    importance.add_argument("--out", default=None, help="folder for the PNGs (default RUN/genes)")
    from .report.cli import add_report_arguments  # here, not at the top: importing runs.cli stays light

    add_report_arguments(
        commands.add_parser("report", help="write RUN/report.html, or serve it live on 127.0.0.1 (--serve)")
    )
    table = commands.add_parser("nats-table", help="export NATS-Bench's topology results to a --lookup table (CSV)")
    table.add_argument("benchmark", help="the NATS-Bench topology file or folder (needs pip install deap_cnn[nats])")
    table.add_argument("--out", required=True, help="the CSV table to write")
    table.add_argument("--dataset", default="cifar10", help="cifar10, cifar10-valid, cifar100 or ImageNet16-120")
    table.add_argument("--metric", nargs="+", default=["test-accuracy"],
                       help="test-accuracy, valid-accuracy or train-accuracy; several: a column each")  # fmt: skip
    table.add_argument("--hp", nargs="+", default=["200"], choices=("12", "200"),
                       help="training epochs of the results; both (--hp 12 200): a column each, for --fidelity")  # fmt: skip
    commands.add_parser("families", help="list the genome families")
    commands.add_parser("strategies", help="list the search strategies")
    return parser


def _search(args):
    from .runner import run_search

    return run_search(config_from_args(args), resume=args.resume)


def _resume(args):
    from .folder import RunFolder
    from .runner import run_search

    config = SearchConfig.from_dict(RunFolder(args.run).claim({}, resume=True))
    config.out = args.run
    if args.generations is not None:
        config.generations = args.generations
    if args.engine is not None:
        config.engine = args.engine
    return run_search(config.check(), resume=True, trust_pickle=args.trust_pickle_checkpoint)


def _best(args):
    from .folder import RunFolder

    folder = RunFolder(args.run)
    best = folder.read_json("best.json")
    print(f"family:     {best.get('family', 'cnn-ga')}")
    print(f"genome:     {best['genome']}")
    print(
        f"fitness:    {best.get('fitness', [best.get('validation_fitness')])} ({', '.join(best.get('objectives', ['accuracy']))})"
    )
    if "test_accuracy" in best:
        print(
            f"test accuracy: {best['test_accuracy']:.4f} after {best.get('final_epochs')} epochs on all training data"
        )
    from .card import write_model_card
    from .winner import load_winner

    print(f"model card: {write_model_card(load_winner(args.run))}")
    weights = folder.file("best.pt")
    if args.export:
        from ..training.export import FORMATS

        done = load_winner(args.run).export(args.export)
        if done["format"] == ".pt":
            print(f"exported: {done['path']} and {done['json']} (deap_cnn.training.models.load_network reads them)")
        else:
            print(
                f"exported: {done['path']} ({FORMATS[done['format']]}); checked against PyTorch on {done['images']} "
                f"inputs of the run's data: largest logit difference {done['max_difference']:.2g}, "
                f"{done['agree']}/{done['images']} classes agree; input: raw pixels (or features), normalisation "
                "folded in"
            )
    elif weights.exists():
        print(f"weights:    {weights} (load with deap_cnn.training.models.load_network)")
    return best


def _predict(args):
    from .predict import predict

    return predict(args.run, args.images, args.model_format, args.model, args.out)


def _importance(args):
    from .importance import report

    out = args.out or os.path.join(args.run, "genes")
    return report(os.path.join(args.run, "results.sqlite"), out)


def _report(args):
    from .report.cli import run_report

    return run_report(args)


def _nats_table(args):
    from ..lookup.nats_bench import column_name, export_topology_table

    rows = export_topology_table(args.benchmark, args.out, args.dataset, args.metric, args.hp)
    columns = [column_name(args.dataset, metric, hp) for hp in args.hp for metric in args.metric]
    if len(columns) == 1:
        how = f"deap-cnn search --family nats --lookup {args.out}"
    else:  # several columns: the short one searched, the long one reranks, the first metric judges
        hps = sorted(set(args.hp), key=int)
        metric = args.metric[0]
        how = (f"deap-cnn search --family nats --lookup {args.out} "
               + " ".join(f"--fidelity {hp}={column_name(args.dataset, metric, hp)}" for hp in hps)
               + f" --truth-column {column_name(args.dataset, metric, hps[-1])}")  # fmt: skip
    print(f"wrote {rows:,} cells to {args.out} (columns {', '.join(columns)}); search it with: {how}")
    return 0


def _families(args):
    from ..families import family_names, get_family

    for name in family_names():
        family = get_family(name)
        print(f"{name:14s} {family.data:8s} {family.description}")


def _strategies(args):
    from ..search.strategies import get_strategy, strategy_names

    for name in strategy_names():
        print(f"{name:10s} {get_strategy(name).description}")


COMMANDS = {
    "search": _search,
    "resume": _resume,
    "best": _best,
    "predict": _predict,
    "importance": _importance,
    "report": _report,
    "nats-table": _nats_table,
    "families": _families,
    "strategies": _strategies,
}


def _usage_errors():
    from ..families import FamilyError, GenomeError, SearchSpaceError
    from ..families.transfer.network import BackboneError
    from ..search.strategies import StrategyError

    return (ConfigError, FamilyError, StrategyError, SearchSpaceError, GenomeError, BackboneError)


def _failures():
    from ..engines import EngineError
    from ..families.transfer.network import WeightsUnavailableError
    from ..lookup import TableError
    from ..runs.checkpoint import CheckpointError
    from ..search.objectives import InfeasibleError
    from ..training.datasets import DataError
    from ..training.export import ExportError
    from .folder import RunFolderError
    from .store import StoreError
    from .tensorboard import TensorBoardMissing

    return (
        DataError,
        RunFolderError,
        CheckpointError,
        StoreError,
        WeightsUnavailableError,
        EngineError,
        TensorBoardMissing,
        TableError,
        ExportError,
        InfeasibleError,
    )


def _resume_hint(run) -> str:
    """What to do after an interrupt: resume the run, or (stopped before its folder was claimed) start it again."""
    if run is None:
        return ""
    from .folder import RunFolder

    if RunFolder(run).config_file.exists():
        return f": resume with {resume_command(run)}"
    return ": the run had not started; run the same command again"


def status_of(function, *args, run=None) -> int:
    """Call ``function(*args)``; return the exit status its outcome earns, having printed one line for a failure.

    0 when it returns; 2 for a usage error; 1 for another failure (a bad
    file, a damaged run folder, a lost worker); 128 + the signal number when
    interrupted, with the resume command of ``run`` (a run folder); and for
    a bug its traceback, once, then 1. Every command line of the project
    (``deap-cnn``, the benchmark scripts, the examples, the module mains)
    goes through here and then :func:`exit_with`.
    """
    try:
        result = function(*args)
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM (runs.interrupts)
        print(f"interrupted{_resume_hint(run)}", file=sys.stderr, flush=True)
        return exit_status(interrupt)
    except LostWorkerError as error:
        print(f"error: {error}", file=sys.stderr)
        if run is not None:
            print(f"resume with: {resume_command(run)}", file=sys.stderr)
        return FAILURE
    except _usage_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except _failures() as error:
        print(f"error: {error}", file=sys.stderr)
        return FAILURE
    except SystemExit as done:  # argparse (2, its usage line printed), --help (0), or a message of our own
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return FAILURE
    except Exception as error:  # noqa: BLE001 - a bug: its traceback once (SCOOP would print it twice), then 1
        traceback.print_exc()
        print(
            f"error: unexpected {type(error).__name__} (a bug: please report it with the traceback above)",
            file=sys.stderr,
            flush=True,
        )
        return BUG
    return result if isinstance(result, int) and not isinstance(result, bool) else 0  # a command's own status


def main(argv=None, defaults: SearchConfig | None = None) -> int:
    """Run the command line; return the exit status (see the module docstring and :func:`status_of`)."""
    for stream in (sys.stdout, sys.stderr):  # a path that is not UTF-8 prints escaped, never as a traceback
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser(defaults)
    try:
        args = parser.parse_args(None if argv is None else list(map(str, argv)))
    except SystemExit as done:  # argparse: --help (0) or a usage error it printed (2)
        return done.code if isinstance(done.code, int) else USAGE_ERROR
    run = (getattr(args, "out", None) or getattr(args, "run", None)) if args.command in ("search", "resume") else None
    return status_of(COMMANDS[args.command], args, run=run)


def exit_with(status: int):
    """End the process with ``status``, also under ``python -m scoop`` (whose launcher would otherwise say 0).

    Under SCOOP a failure leaves through
    :func:`~deap_cnn.engines.scoop_engine.end_scoop_run`: the launcher then
    exits 241 (SCOOP cannot pass the exact status on; see docs/failures.md).
    """
    from ..engines.scoop_engine import end_scoop_run, scoop_is_running

    sys.stdout.flush()
    sys.stderr.flush()
    if scoop_is_running():
        if status:
            end_scoop_run(None, status)
        return  # SCOOP prints even SystemExit(0) as a traceback: returning ends the run with 0
    sys.exit(status)


def run_guarded(function, *args):
    """``exit_with(status_of(function, *args))``: what a script's ``if __name__ == "__main__":`` calls."""
    exit_with(status_of(function, *args))


def run_main(argv=None, defaults: SearchConfig | None = None):
    """Exit with :func:`main`'s status (the console script, ``python -m deap_cnn``, the preset scripts).

    Under SCOOP a plain ``sys.exit`` would end the launcher with status 0,
    hence :func:`exit_with`.
    """
    exit_with(main(argv, defaults))
