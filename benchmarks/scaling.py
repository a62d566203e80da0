"""How a search scales over SCOOP workers, and what the loop costs beside evaluation.

    python benchmarks/scaling.py                  # -n 1 against -n 2, bundled sample
    python benchmarks/scaling.py --workers 1 2 4 --population 8
    python benchmarks/scaling.py --engines           # serial, SCOOP -n 2, Dask with 2 workers

Runs the same seeded search (``benchmarks/sample.py`` with small settings) once
per worker count, each in a fresh run folder, and reads each run's logbook:

- candidates trained per minute of search (trainings / wall seconds of all
  generations), and its ratio to the first worker count;
- the share of each generation's wall time spent outside evaluation
  (variation, selection, statistics, checkpoint): 1 - eval_seconds / seconds;
- (``--engines``) where a ratio below the worker count goes: ``train s`` is the
  summed training time of all candidates (its growth over serial is two
  processes slowing each other on shared cores and memory), and ``busy`` is
  that sum over workers x wall seconds (what is left is workers idle at the
  end of a generation, waiting for its slowest candidate, and start-up).

By default every worker gets one torch thread (``DEAP_CNN_LOCAL_WORKERS`` set
to the largest worker count), so the ratio measures SCOOP's process
parallelism. ``--threads auto`` lets each run share the cores out among its
own workers instead (-n 1 then trains with every core), which is what a user
gets by default.
"""

import argparse
import csv
import os
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(workers, folder, args, threads, engine="scoop"):
    env = dict(os.environ, PYTHONPATH=str(ROOT), DEAP_CNN_DEVICE=args.device)
    if threads != "auto":
        env["DEAP_CNN_LOCAL_WORKERS"] = str(threads)
    # The same preset for every engine, so that only the engine differs between rows.
    script = str(ROOT / "benchmarks" / "sample.py")
    if engine == "scoop":
        command = [sys.executable, "-m", "scoop", "-n", str(workers), script]
    else:
        workers_option = ["--workers", str(workers)] if engine == "dask" else []
        command = [sys.executable, script, "--engine", engine, *workers_option]
    # CNN-GA's generational loop: its logbook times each generation's evaluation (eval_seconds).
    command += ["--strategy", "ga", "--out", str(folder), "--seed", str(args.seed), "--final-epochs", "0"]
    command += ["--population", str(args.population), "--generations", str(args.generations)]
    command += ["--epochs", str(args.epochs), "--widths", *map(str, args.widths)]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(folder / "logbook.csv") as handle:
        log = list(csv.DictReader(handle))
    trained = sum(int(row["nevals"]) for row in log)
    seconds = sum(float(row["seconds"]) for row in log)
    outside = sum(float(row["seconds"]) - float(row["eval_seconds"]) for row in log)
    best = max(float(row["max"]) for row in log)
    with closing(sqlite3.connect(folder / "results.sqlite")) as store:
        training = store.execute("SELECT TOTAL(seconds) FROM evaluations").fetchone()[0]
    return trained, seconds, outside, best, training


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", default="one", choices=["one", "auto"], help="torch threads per worker")
    parser.add_argument("--engines", action="store_true", help="compare serial, SCOOP -n 2 and Dask (2 workers)")
    args = parser.parse_args()
    threads = max(args.workers) if args.threads == "one" else "auto"
    if args.engines:
        return compare_engines(args, 2 if args.threads == "one" else "auto")

    print(
        f"seeded search: population {args.population}, {args.generations} generations, {args.epochs} epoch(s), "
        f"widths {args.widths}, device {args.device}, threads per worker: {args.threads}"
    )
    print(f"{'workers':>7} {'trained':>7} {'seconds':>8} {'per min':>8} {'ratio':>6} {'outside eval':>12} {'best':>6}")
    base = None
    with tempfile.TemporaryDirectory() as scratch:
        for workers in args.workers:
            trained, seconds, outside, best, _ = run(workers, Path(scratch) / f"n{workers}", args, threads)
            rate = 60 * trained / seconds
            base = base or rate
            print(
                f"{workers:>7} {trained:>7} {seconds:>8.1f} {rate:>8.1f} {rate / base:>5.2f}x "
                f"{100 * outside / seconds:>11.3f}% {best:>6.3f}"
            )


def compare_engines(args, threads):
    """One table: the same seeded search serially, under SCOOP -n 2 and on a 2-worker Dask LocalCluster."""
    print(
        f"seeded search: population {args.population}, {args.generations} generations, {args.epochs} epoch(s), "
        f"widths {args.widths}, device {args.device}; load average before: {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'engine':>12} {'trained':>7} {'seconds':>8} {'per min':>8} {'ratio':>6} {'outside eval':>12} "
        f"{'best':>6} {'train s':>8} {'busy':>5}"
    )
    base = None
    with tempfile.TemporaryDirectory() as scratch:
        for label, engine, workers in (("serial", "serial", 1), ("scoop -n 2", "scoop", 2), ("dask 2", "dask", 2)):
            trained, seconds, outside, best, training = run(workers, Path(scratch) / engine, args, threads, engine)
            rate = 60 * trained / seconds
            base = base or rate
            print(
                f"{label:>12} {trained:>7} {seconds:>8.1f} {rate:>8.1f} {rate / base:>5.2f}x "
                f"{100 * outside / seconds:>11.3f}% {best:>6.3f} {training:>8.1f} {training / (workers * seconds):>5.0%}"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
