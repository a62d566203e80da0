"""Does the genetic search beat random search and TPE for the same compute? And what does early stopping cost?

    python benchmarks/search_quality.py                     # defaults: bundled sample, under an hour on 2 cores
    python benchmarks/search_quality.py --seeds 5 --budget 60 --epochs 5 --workers 4
    python benchmarks/search_quality.py --data fashion-mnist --max-batches 40   # Debian's full Fashion-MNIST
    python -m scoop -n 4 benchmarks/search_quality.py --budget 48                # SCOOP workers

For every seed, each method (CNN-GA, random search, TPE) gets the same
budget of candidate trainings (architectures trained for the first time;
cache hits are free), the same evaluator (same data, split, low-fidelity
training settings) and its own evaluation cache and results store. All
methods score candidates in batches of ``--population`` (the GA's
generation size), so successive halving (``--halving``) applies to each in
the same way: all candidates of a batch train at the lowest rung, the best
``--eta`` of them at the next, up to ``--epochs``.

It prints, per method and halving setting, the mean and standard deviation
over seeds of the best validation accuracy found and of the test accuracy of
the method's final pick (retrained on the whole training set for
``--final-epochs`` and measured once on the test set), and the candidates,
trainings (every rung counts), epochs and search seconds spent. A second
table pairs each run with halving against the same seed without: what it
saves and what it costs in accuracy.

With the defaults (3 seeds, 3 methods, halving off and on: 18 runs of 24
candidate trainings at 3 epochs of at most 10 batches, rungs of 1 and 3
epochs with eta 1/3, two worker processes) it took 21 minutes on a 2-core
CPU, final retrainings included.

The training seed is fixed (``TrainSettings.seed=0``), so on a CPU a genome
gets the same fitness in every run: the seeds vary the searches only. Each run
leaves its SQLite store under ``--out`` (default ``runs/search-quality-<time>``),
with ``results.json`` (every run) and ``table.txt`` (the tables).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sqlite3
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deap_cnn import Genome, SearchSpace  # noqa: E402
from deap_cnn.runs.store import ResultsStore  # noqa: E402
from deap_cnn.search.baselines import ga_search, random_search, tpe_search  # noqa: E402
from deap_cnn.search.cache import EvaluationCache  # noqa: E402
from deap_cnn.search.evaluation import scoop_map  # noqa: E402
from deap_cnn.search.halving import SuccessiveHalving, halving_rungs  # noqa: E402
from deap_cnn.training.datasets import DataError  # noqa: E402
from deap_cnn.training.devices import available_cpus  # noqa: E402
from deap_cnn.training.evaluator import Evaluator  # noqa: E402
from deap_cnn.training.final import train_and_test  # noqa: E402
from deap_cnn.training.settings import TrainSettings  # noqa: E402
from deap_cnn.training.sources import DataSource, load_data  # noqa: E402

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
METHODS = ("ga", "random", "tpe")
LABELS = {"ga": "CNN-GA", "random": "random", "tpe": "TPE"}


def parse_eta(text: str) -> float:
    """``"1/3"`` or ``"0.5"`` as a float in (0, 1)."""
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"eta must be a fraction like 1/3 or 0.5, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"eta must lie strictly between 0 and 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--data",
        default="sample",
        help="sample (bundled), fashion-mnist (Debian's folder), or any deap_cnn data source",
    )
    add("--data-dir", default=None, help="folder of the data (torchvision layouts)")
    add("--seeds", type=int, default=3, help="search seeds 0..N-1 per method")
    add("--budget", type=int, default=24, help="candidate trainings per run")
    add("--seconds", type=float, default=None, help="optional cap on search seconds per run")
    add("--epochs", type=int, default=3, help="training epochs per candidate (the top rung with halving)")
    add("--max-batches", type=int, default=10, help="cap on batches per epoch of a candidate's training (0: none)")
    add("--batch-size", type=int, default=128)
    add("--lr", type=float, default=0.05)
    add("--population", type=int, default=8, help="GA population; batch size of random search and TPE")
    add("--widths", type=int, nargs="+", default=[8, 16, 32])
    add("--max-skip-units", type=int, default=4)
    add("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    add("--halving", default="both", choices=["on", "off", "both"], help="successive halving per batch")
    add("--eta", type=parse_eta, default=1 / 3, help="fraction promoted per rung (1/3, 1/2, ...)")
    add("--final-epochs", type=int, default=None, help="epochs to retrain each final pick (default --epochs)")
    add("--final-max-batches", type=int, default=0, help="cap on batches per epoch of the final retraining (0: none)")
    add("--workers", type=int, default=2, help="evaluation processes (1: serial); ignored under python -m scoop")
    add("--device", default="cpu")
    add("--out", default=None, help="folder for the runs' stores and results (default runs/search-quality-<time>)")
    return parser


def resolve_source(args) -> DataSource:
    if args.data == "fashion-mnist" and args.data_dir is None and os.path.isdir(DEBIAN_FASHION_MNIST):
        return DataSource(DEBIAN_FASHION_MNIST)  # Debian's dataset-fashion-mnist: an IDX folder
    return DataSource(args.data, root=args.data_dir)


def make_map(workers: int):
    """``(map function, worker count, pool to close or None)``: SCOOP's map under scoop, else a spawn pool."""
    map_function, size = scoop_map()
    if map_function is not map:
        return map_function, size, None
    if workers <= 1:
        return map, 1, None
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(workers)
    return pool.map, workers, pool


def warm_worker(task):
    """Load torch and the data in a worker before any clock starts: the first run must not pay for it."""
    source, settings, device = task
    from deap_cnn.training.device_data import device_data
    from deap_cnn.training.devices import select_device

    device_data(source, settings, select_device(device))
    time.sleep(0.5)  # hold this worker so that the next task goes to another one
    return os.getpid()


def store_totals(path) -> dict:
    """Trainings (rows, every rung), epochs and training seconds recorded in one run's store."""
    with sqlite3.connect(path) as db:
        rows, epochs, seconds = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(epochs), 0), COALESCE(SUM(seconds), 0) FROM evaluations"
        ).fetchone()
    return {"trainings": rows, "epochs": epochs, "train_seconds": seconds}


def run_one(method, halving, seed, args, evaluator, space, map_function, out: Path) -> dict:
    """One search; its result and what its store says it spent."""
    path = out / "stores" / f"{method}-halving_{'on' if halving else 'off'}-seed{seed}.sqlite"
    if path.exists():
        raise SystemExit(f"error: {path} exists; choose another --out (a reused store would serve cache hits)")
    common = dict(budget=args.budget, seconds=args.seconds, map_function=map_function, seed=seed)
    halver = store = None
    if halving:
        halver = SuccessiveHalving(evaluator, rungs=halving_rungs(args.epochs, args.eta), eta=args.eta, store=path)
        common.update(evaluate_population=halver)
    else:
        store = ResultsStore(path, fingerprint=evaluator.fingerprint())
    cache = EvaluationCache(store)
    try:
        if method == "ga":
            result = ga_search(space, evaluator.record, cache=cache, population_size=args.population, **common)
        elif method == "random":
            result = random_search(space, evaluator.record, cache=cache, batch_size=args.population, **common)
        else:
            result = tpe_search(space, evaluator.record, cache=cache, batch_size=args.population, **common)
    finally:
        for closing in (halver, store):
            if closing is not None:
                closing.close()
    return {
        "method": method,
        "halving": halving,
        "seed": seed,
        "best_genome": result.best_genome,
        "best_val_accuracy": result.best_fitness[0] if result.best_fitness else float("nan"),
        "candidates": result.trainings,
        "cache_hits": result.cache_hits,
        "failed": result.failed,
        "seconds": result.seconds,
        "stopped": result.stopped,
        **store_totals(path),
    }


def mean_sd(values) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {sd:.4f}"


def summary_table(runs, methods, modes) -> str:
    header = (
        f"{'method':<8} {'halving':<8} {'runs':>4}  {'best val acc':<17}  {'test acc of pick':<17}  "
        f"{'candidates':>10} {'trainings':>9} {'epochs':>7} {'seconds':>8}"
    )
    lines = [header, "-" * len(header)]
    for halving in modes:
        for method in methods:
            group = [r for r in runs if r["method"] == method and r["halving"] == halving]
            if not group:
                continue
            lines.append(
                f"{LABELS[method]:<8} {'on' if halving else 'off':<8} {len(group):>4}  "
                f"{mean_sd([r['best_val_accuracy'] for r in group]):<17}  "
                f"{mean_sd([r['test_accuracy'] for r in group]):<17}  "
                f"{statistics.fmean(r['candidates'] for r in group):>10.1f} "
                f"{statistics.fmean(r['trainings'] for r in group):>9.1f} "
                f"{statistics.fmean(r['epochs'] for r in group):>7.1f} "
                f"{statistics.fmean(r['seconds'] for r in group):>8.1f}"
            )
    return "\n".join(lines)


def halving_table(runs, methods) -> str:
    """Runs with halving against the same method and seed without, paired."""
    header = (
        f"{'method':<8} {'pairs':>5}  {'epochs saved':>12} {'seconds saved':>13}  "
        f"{'Δ best val acc':<17}  {'Δ test acc':<17}"
    )
    lines = [header, "-" * len(header)]
    for method in methods:
        off = {r["seed"]: r for r in runs if r["method"] == method and not r["halving"]}
        on = {r["seed"]: r for r in runs if r["method"] == method and r["halving"]}
        seeds = sorted(set(off) & set(on))
        if not seeds:
            continue
        epochs_saved = 1 - sum(on[s]["epochs"] for s in seeds) / max(1, sum(off[s]["epochs"] for s in seeds))
        seconds_saved = 1 - sum(on[s]["seconds"] for s in seeds) / max(1e-9, sum(off[s]["seconds"] for s in seeds))
        lines.append(
            f"{LABELS[method]:<8} {len(seeds):>5}  {epochs_saved:>12.0%} {seconds_saved:>13.0%}  "
            f"{mean_sd([on[s]['best_val_accuracy'] - off[s]['best_val_accuracy'] for s in seeds]):<17}  "
            f"{mean_sd([on[s]['test_accuracy'] - off[s]['test_accuracy'] for s in seeds]):<17}"
        )
    return "\n".join(lines)


def main(argv=None):
    args = build_parser().parse_args(argv)
    for name in ("seeds", "budget", "epochs", "population", "workers"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    for name in ("max_batches", "final_max_batches"):
        if getattr(args, name) < 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be 0 (no cap) or more, got {getattr(args, name)}")
    final_epochs = args.final_epochs or args.epochs
    out = Path(args.out or time.strftime("runs/search-quality-%Y%m%d-%H%M%S"))
    source = resolve_source(args)
    try:
        dataset = load_data(source)
    except DataError as error:
        raise SystemExit(f"error: {error}") from None
    (out / "stores").mkdir(parents=True, exist_ok=True)
    space = SearchSpace(
        input_shape=dataset.input_shape,
        n_classes=dataset.n_classes,
        widths=tuple(args.widths),
        max_skip_units=args.max_skip_units,
    )
    settings = TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, max_batches_per_epoch=args.max_batches or None
    )
    final_settings = dataclasses.replace(
        settings, epochs=final_epochs, max_batches_per_epoch=args.final_max_batches or None
    )
    map_function, workers, pool = make_map(args.workers)
    threads = max(1, available_cpus() // workers)
    evaluator = Evaluator(source, space, settings, device=args.device, threads=threads)
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.halving]
    rungs = halving_rungs(args.epochs, args.eta)
    print(
        f"search quality on {dataset.name}: {len(dataset.x_train)} training images {dataset.input_shape}; "
        f"widths {tuple(args.widths)}, up to {args.max_skip_units} skip units; {args.epochs} epochs per candidate"
        f"{f' (at most {args.max_batches} batches each)' if args.max_batches else ''}; budget {args.budget} candidate "
        f"trainings{f' or {args.seconds:g} s' if args.seconds else ''} per run; batches of {args.population}; "
        f"halving {args.halving} (rungs {rungs} epochs, eta {args.eta:.3g}); seeds 0..{args.seeds - 1}; "
        f"{workers} worker(s) x {threads} thread(s); final picks retrained {final_epochs} epochs"
        f"{f' (at most {args.final_max_batches} batches each)' if args.final_max_batches else ''}; out {out}",
        flush=True,
    )
    if map_function is not map:
        list(map_function(warm_worker, [(source, settings, args.device)] * (2 * workers)))
    started = time.perf_counter()
    runs, finals = [], {}
    try:
        for seed in range(args.seeds):
            for method in args.methods:
                for halving in modes:
                    run = run_one(method, halving, seed, args, evaluator, space, map_function, out)
                    genome = run["best_genome"]
                    if genome not in finals:
                        final = train_and_test(Genome.from_string(genome), source, space, final_settings, args.device)
                        finals[genome] = {"test_accuracy": final["test_accuracy"], "seconds": final["seconds"]}
                    run["test_accuracy"] = finals[genome]["test_accuracy"]
                    runs.append(run)
                    print(
                        f"  seed {seed} {LABELS[method]:<6} halving {'on ' if halving else 'off'}: "
                        f"best {genome} val {run['best_val_accuracy']:.4f} test {run['test_accuracy']:.4f}; "
                        f"{run['candidates']} candidates, {run['trainings']} trainings, {run['epochs']} epochs, "
                        f"{run['seconds']:.0f} s ({run['stopped']}); {time.perf_counter() - started:.0f} s so far",
                        flush=True,
                    )
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    wall = time.perf_counter() - started
    tables = (
        f"\nBest validation accuracy (mean ± sd over seeds), test accuracy of each run's final pick "
        f"(retrained {final_epochs} epochs on the whole training set), and the mean spent per run:\n\n"
        + summary_table(runs, args.methods, modes)
    )
    if len(modes) == 2:
        tables += (
            "\n\nSuccessive halving against no halving, paired by method and seed "
            "(Δ = with - without; saved = 1 - with / without):\n\n" + halving_table(runs, args.methods)
        )
    tables += f"\n\nwall time {wall:.0f} s ({wall / 60:.1f} min), final retrainings included\n"
    print(tables, flush=True)
    (out / "table.txt").write_text(tables)
    with open(out / "results.json", "w") as handle:
        json.dump({"args": vars(args), "runs": runs, "wall_seconds": wall}, handle, indent=2, default=str)
    return runs


if __name__ == "__main__":
    main()
