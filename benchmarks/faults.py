"""Fault injection on run folders: kill, race and corrupt lookup runs; count what survives.

Every fault runs the real command line (``deap_cnn.runs.cli.main``, what
``python -m deap_cnn`` runs) in a forked copy of this process, so that no
run pays the interpreter's start, on a ``--lookup`` search of the nats family over a synthetic table of all
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
        [--work DIR] [--quick]
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
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's deap_cnn, whatever is installed
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


class Child:
    """A ``deap-cnn`` command run in a forked copy of this process (imports done once, so a run costs its own work).

    Its stdout goes to ``/dev/null`` and its stderr to a file; ``wait`` returns
    the exit status, ``kill`` sends SIGKILL. The child is the real command line
    (``deap_cnn.runs.cli.main``), as ``python -m deap_cnn`` would run it.
    """

    def __init__(self, command, work: Path):
        self.err_path = work / f".stderr-{time.monotonic_ns()}-{random.random()}"
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                err = os.open(self.err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(devnull, 1)
                os.dup2(err, 2)
                os.chdir(work)
                from deap_cnn.runs.cli import main

                code = main(command)
                sys.stdout.flush()
                sys.stderr.flush()
            except BaseException:  # noqa: BLE001 - whatever happens, the child leaves here
                import traceback

                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(code if isinstance(code, int) else 1)
        self.pid, self.returncode = pid, None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.002)
        return self.returncode

    def kill(self):
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait()

    def stderr(self) -> str:
        try:
            text = self.err_path.read_text(errors="replace")
            self.err_path.unlink()
        except OSError:
            text = ""
        return text


class Bench:
    def __init__(self, args, work: Path):
        self.args, self.work = args, work
        self.table = work / "table.csv"

    def search_args(self, out) -> list[str]:
        a = self.args
        budget = ["--trainings", str(a.trainings)] if a.strategy not in ("ga", "nsga2") else []
        return ["search", "--family", "nats", "--seed", str(a.seed), "--lookup", str(self.table), "--strategy",
                a.strategy, "--population", str(a.population), "--generations", str(a.generations), *budget,
                "--out", str(out)]  # fmt: skip

    def start(self, command) -> Child:
        return Child(command, self.work)

    def run(self, command):
        child = self.start(command)
        code = child.wait()
        return code, child.stderr()

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
    """Each file's bytes, but for those a refused resume may touch: status.json, report.html, the lock and the
    temporary files a killed writer left (the next writer deletes them)."""
    skip = {"status.json", "report.html", ".deap-cnn.lock"}
    return {
        p.name: p.read_bytes()
        for p in out.iterdir()
        if p.is_file() and p.name not in skip and not p.name.endswith(".tmp") and not p.name.startswith(".checkpoint-")
    }


def changed(before: dict, after: dict) -> list:
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


def interrupted(bench: Bench, out: Path, moment: float):
    """Run a search into ``out`` and SIGKILL it after ``moment`` seconds (unless it finished first)."""
    child = bench.start(bench.search_args(out))
    if child.wait(timeout=moment) is None:
        child.kill()
    child.stderr()
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

    results = [one(index) for index in range(bench.args.kills)]
    failed = [(i, detail) for i, same, detail in results if not same]
    return len(results) - len(failed), failed


def prepared(bench: Bench, name: str, duration: float) -> Path:
    """A folder interrupted mid-run (holding a checkpoint and some rows, not finished)."""
    for attempt in range(20):
        out = bench.work / f"{name}-{attempt}"
        child = bench.start(bench.search_args(out))
        while child.poll() is None and not (out / "checkpoint.json").exists():
            time.sleep(0.002)
        time.sleep(random.Random(attempt).uniform(0, 0.3) * duration)
        if child.poll() is None:
            child.kill()
            child.stderr()
            if (out / "checkpoint.json").exists() and not (out / "best.json").exists():
                return out
        else:
            child.stderr()
        shutil.rmtree(out, ignore_errors=True)
    raise RuntimeError("could not interrupt a search mid-run: raise --trainings")


def races(bench: Bench, reference, duration):
    """Two resumes at once, and a search beside a resume: one writer each time, the run's result."""
    results = []
    for kind in ("resume+resume", "search+resume"):
        out = prepared(bench, f"race-{kind}", duration)
        first = bench.start(["resume", str(out)])
        second = bench.start(["resume", str(out)] if kind == "resume+resume" else bench.search_args(out))
        codes = [first.wait(), second.wait()]
        errors = [first.stderr(), second.stderr()]
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
                touched = changed(before, snapshot(out))
                untouched = not touched
                (out / name).unlink(missing_ok=True)
                shutil.copy2(base / name, out / name)  # put the file back: the run must go on as before
                back, _ = bench.resume(out)
                ok = refused and untouched and back == 0 and outcome(out) == reference
                verdict = "refused with one line, nothing lost" if ok else (
                    f"REFUSED BADLY (one line {refused}, changed {touched}, resumed after repair {back == 0})"
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
    import deap_cnn.lookup  # imported once here, so that no forked run pays for it
    import deap_cnn.runs.plots
    import deap_cnn.runs.report
    import deap_cnn.runs.runner  # noqa: F401 - imported once here, so that no forked run pays for it

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
