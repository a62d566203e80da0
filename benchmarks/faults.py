"""Fault injection on run folders: kill, race and corrupt lookup runs; count what survives.

Every fault runs the real command line (``python -m deap_cnn``) on a
``--lookup`` search of the nats family over a synthetic table of all
15,625 cells, so a run costs seconds. Three kinds of fault:

1. **kills**: a search is killed with SIGKILL at a random moment (up to
   the uninterrupted run's duration) and resumed (run again, when it was
   killed before its folder held anything); the result must equal the
   uninterrupted run's: the store's rows (genome, fitness, in order), the
   pick and ``best.json``;
2. **races**: two writers on one interrupted folder at once (two resumes,
   and a search beside a resume); one must be refused with one line, the
   other must end as the uninterrupted run does;
3. **damage**: each file of an interrupted folder in turn is truncated,
   emptied, overwritten with other bytes or deleted, and the run resumed.
   The resume must either be refused with one line (exit 1 or 2, no
   traceback), the folder's other files untouched, and, once the file is
   put back, resume to the uninterrupted result; or, for a file the run
   does not depend on (``status.json``, ``report.html``), resume to that
   result at once.

It prints the counts; every fault that does not end as it should is named.
Exit status 0 only when all did.

    python benchmarks/faults.py [--kills 50] [--trainings 60] [--population 10] [--strategy aging] [--seed 1]
        [--jobs 2] [--work DIR] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Files of an interrupted run folder that a resume must refuse when damaged (the others it may ignore or rewrite).
NEEDED = ("config.json", "results.sqlite", "checkpoint.json")
DAMAGES = ("truncate", "empty", "garbage", "delete")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50, help="searches killed at a random moment and resumed")
    parser.add_argument("--trainings", type=int, default=60, help="evaluations of each search")
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--strategy", default="aging", help="any strategy with checkpoints: aging, local, ga, ...")
    parser.add_argument("--generations", type=int, default=5, help="generations of ga / nsga2")
    parser.add_argument("--seed", type=int, default=1, help="seed of the searches and of the kill moments")
    parser.add_argument("--jobs", type=int, default=2, help="kills run at once")
    parser.add_argument("--work", default=None, help="folder for the table and the runs (default: a temporary one)")
    parser.add_argument("--no-races", action="store_true", help="skip the concurrent writers")
    parser.add_argument("--no-damage", action="store_true", help="skip the damaged files")
    parser.add_argument(
        "--quick", action="store_true", help="the small form (a test): 3 kills, only the files a resume needs damaged"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.kills = min(args.kills, 3)
    return args


def write_table(path: Path):
    """``architecture,score`` for every cell of the nats space: a hash of its text, so every table is the same."""
    from deap_cnn.families import get_family

    space = get_family("nats").space((3, 32, 32), 10, {})
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["architecture", "score"])
        for genome in space.all_genomes():
            text = str(genome)
            score = 50 + int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 5000 / 100
            writer.writerow([text, repr(score)])


class Bench:
    def __init__(self, args, work: Path):
        self.args, self.work = args, work
        self.table = work / "table.csv"
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.env.pop("DEAP_CNN_DEVICE", None)

    def search_args(self, out) -> list[str]:
        a = self.args
        budget = ["--trainings", str(a.trainings)] if a.strategy not in ("ga", "nsga2") else []
        return ["search", "--family", "nats", "--seed", str(a.seed), "--lookup", str(self.table), "--strategy",
                a.strategy, "--population", str(a.population), "--generations", str(a.generations), *budget,
                "--out", str(out)]  # fmt: skip

    def start(self, command):
        return subprocess.Popen(
            [sys.executable, "-m", "deap_cnn", *command],
            cwd=self.work,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, command, timeout=600):
        process = self.start(command)
        _, err = process.communicate(timeout=timeout)
        return process.returncode, err

    def resume(self, out):
        return self.run(["resume", str(out)])


def outcome(out: Path):
    """What counts of a finished run: its rows (in order), its pick and best.json's lasting fields."""
    try:
        with sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT genome, parent, fitness FROM evaluations ORDER BY id").fetchall()
        best = json.loads((out / "best.json").read_text())
    except (OSError, ValueError, sqlite3.Error) as error:
        return f"unreadable: {error}"
    kept = ("genome", "validation_fitness", "fitness", "evaluations", "trainings", "duplicates", "stopped")
    return {"rows": rows, "best": {k: best.get(k) for k in kept}}


def one_line(err: str) -> bool:
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    return len(lines) == 1 and "Traceback" not in err


def snapshot(out: Path) -> dict:
    """Each file's bytes (status.json, report.html and the lock excepted: a refused resume may touch them)."""
    skip = {"status.json", "report.html", ".deap-cnn.lock"}
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name not in skip}


def interrupted(bench: Bench, out: Path, moment: float):
    """Run a search into ``out`` and SIGKILL it after ``moment`` seconds (unless it finished first)."""
    process = bench.start(bench.search_args(out))
    try:
        process.wait(timeout=moment)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
    process.stderr.close()
    return moment


def finish(bench: Bench, out: Path):
    """Resume ``out`` to the end (run the search again when it was killed before the folder held a run)."""
    if (out / "config.json").exists():
        code, err = bench.resume(out)
        if code != 0 and "nothing to resume" not in err and "already holds" not in err:
            return code, err
        if code == 0:
            return code, err
    return bench.run(bench.search_args(out))


def kills(bench: Bench, reference, duration):
    rng = random.Random(bench.args.seed)
    moments = [rng.uniform(0.2, 1.0) * duration for _ in range(bench.args.kills)]

    def one(index):
        out = bench.work / f"kill-{index:03d}"
        interrupted(bench, out, moments[index])
        code, err = finish(bench, out)
        same = code == 0 and outcome(out) == reference
        shutil.rmtree(out, ignore_errors=True)
        return index, same, (code, err.strip().splitlines()[-1:] if err else "")

    with ThreadPoolExecutor(max(1, bench.args.jobs)) as pool:
        results = list(pool.map(one, range(bench.args.kills)))
    failed = [(i, detail) for i, same, detail in results if not same]
    return len(results) - len(failed), failed


def prepared(bench: Bench, name: str, duration: float) -> Path:
    """A folder interrupted mid-run (holding a checkpoint and some rows, not finished)."""
    for attempt in range(20):
        out = bench.work / f"{name}-{attempt}"
        process = bench.start(bench.search_args(out))
        while process.poll() is None and not (out / "checkpoint.json").exists():
            time.sleep(0.01)
        time.sleep(random.Random(attempt).uniform(0, 0.3) * duration)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            process.stderr.close()
            if (out / "checkpoint.json").exists() and not (out / "best.json").exists():
                return out
        else:
            process.stderr.close()
        shutil.rmtree(out, ignore_errors=True)
    raise RuntimeError("could not interrupt a search mid-run: raise --trainings")


def races(bench: Bench, reference, duration):
    """Two resumes at once, and a search beside a resume: one writer each time, the run's result."""
    results = []
    for kind in ("resume+resume", "search+resume"):
        out = prepared(bench, f"race-{kind}", duration)
        first = bench.start(["resume", str(out)])
        second = bench.start(["resume", str(out)] if kind == "resume+resume" else bench.search_args(out))
        errors = [p.communicate()[1] for p in (first, second)]
        codes = [first.returncode, second.returncode]
        refused = [i for i in (0, 1) if codes[i] != 0]
        ok = (
            len(refused) == 1
            and one_line(errors[refused[0]])
            and ("being written by another" in errors[refused[0]] or "already holds a run" in errors[refused[0]])
        )
        if ok and codes[1 - refused[0]] == 0:
            ok = outcome(out) == reference
        elif not refused:  # one finished before the other started: the second had nothing to do but must agree
            ok = outcome(out) == reference and kind == "resume+resume"
        results.append((kind, ok, codes, [e.strip().splitlines()[-1:] for e in errors]))
        shutil.rmtree(out, ignore_errors=True)
    return results


def damage(path: Path, how: str):
    if how == "delete":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(os.urandom(max(64, path.stat().st_size)))


def damages(bench: Bench, reference, duration):
    """Each file of an interrupted folder, damaged each way in turn: refused with one line, or harmless."""
    base = prepared(bench, "damage", duration)
    names = sorted(p.name for p in base.iterdir() if p.is_file() and not p.name.endswith(".tmp"))
    if bench.args.quick:
        names = [name for name in names if name in NEEDED]
    results = []
    for name in names:
        for how in DAMAGES if not bench.args.quick else ("truncate", "delete"):
            out = bench.work / f"damaged-{name}-{how}"
            shutil.copytree(base, out)
            damage(out / name, how)
            before = snapshot(out)
            code, err = bench.resume(out)
            if code == 0:
                ok = outcome(out) == reference
                verdict = "resumed to the same result" if ok else "RESUMED TO ANOTHER RESULT"
            else:
                refused = one_line(err) and code in (1, 2)
                untouched = snapshot(out) == before
                (out / name).unlink(missing_ok=True)
                shutil.copy2(base / name, out / name)  # put the file back: the run must go on as before
                back, _ = bench.resume(out)
                ok = refused and untouched and back == 0 and outcome(out) == reference
                verdict = "refused with one line, nothing lost" if ok else (
                    f"REFUSED BADLY (one line {refused}, untouched {untouched}, resumed after repair {back == 0})"
                )  # fmt: skip
            results.append((name, how, ok, verdict, err.strip().splitlines()[-1:] if err else ""))
            shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="deap-cnn-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, work)
    write_table(bench.table)
    started = time.perf_counter()
    code, err = bench.run(bench.search_args(work / "reference"))
    duration = time.perf_counter() - started
    if code != 0:
        print(f"the uninterrupted run failed ({code}): {err.strip()}", file=sys.stderr)
        return 1
    reference = outcome(work / "reference")
    print(
        f"uninterrupted run: {len(reference['rows'])} rows, pick {reference['best']['genome']} "
        f"({reference['best']['validation_fitness']}), {duration:.1f} s",
        flush=True,
    )
    bad = 0
    same, failed = kills(bench, reference, duration)
    print(f"kills: {same} of {args.kills} killed-and-resumed runs identical to the uninterrupted run", flush=True)
    for index, detail in failed:
        print(f"  kill {index}: NOT identical {detail}")
    bad += len(failed)
    if not args.no_races:
        for kind, ok, codes, errors in races(bench, reference, duration):
            print(f"race {kind}: {'one writer, the same result' if ok else 'FAILED'} (exits {codes}) {errors}")
            bad += not ok
    if not args.no_damage:
        results = damages(bench, reference, duration)
        refused = sum(ok and "refused" in verdict for _, _, ok, verdict, _ in results)
        harmless = sum(ok and "resumed" in verdict for _, _, ok, verdict, _ in results)
        print(
            f"damage: {len(results)} damaged files; {refused} refused with one line and nothing lost, "
            f"{harmless} harmless (resumed to the same result), {len(results) - refused - harmless} wrong",
            flush=True,
        )
        for name, how, ok, verdict, line in results:
            print(f"  {how:8} {name:20} {verdict}{'' if ok else ' ' + str(line)}")
        bad += sum(not result[2] for result in results)
    print(
        f"{'all faults handled' if not bad else f'{bad} fault(s) NOT handled'} in {time.perf_counter() - started:.0f} s"
    )
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
