"""Which search finds better architectures for the same compute? Every strategy on real Fashion-MNIST, budget in multiply-adds.

    python benchmarks/search_quality.py                  # 10,000 training images, 5 T, 5 seeds: random, default, aging, aging+halving
    python benchmarks/search_quality.py --quick          # a minute: tiny networks, 2 seeds, one method per strategy
    python benchmarks/search_quality.py --methods all    # issue 12's whole grid and the rerank variants (hours)
    python benchmarks/search_quality.py --budget 12 --widths 16 32 64 --methods ga random ga+halving

Every method gets, per seed, the same **compute budget** (``--budget``, in
tera multiply-adds x images: a candidate's training costs its forward
multiply-adds per image x training images x epochs, so a network twice as
large costs twice as much, and a rung of successive halving costs its own
epochs). A method runs through the real strategy
(``deap_cnn.search.strategies.get_strategy(name).run``) until the training
that crosses the budget finishes; that training counts. All methods share
the evaluator (same seeded subset, validation split and per-candidate
settings) and have their own results store, so nothing is served from
another method's cache.

Candidates train ``--epochs`` (default 1) at batch ``--batch-size`` (default
32): in ``benchmarks/fidelity.py`` that ranked 12 random genomes against
6-epoch trainings with Kendall's tau 0.80, as well as 2-3 epochs at batch
128, for a half to a third of the compute. Methods are a strategy name plus
``+halving`` (successive halving per batch: rungs from ``--halving-epochs``,
default 3, and ``--eta``, 1 and 3 epochs; its best validation accuracy comes
from longer trainings, so compare its picks' test accuracy) and/or
``+inherit`` (children
start from their parent's trained weights): ``ga``, ``random``, ``tpe``,
``aging``, ``local`` and ``surrogate`` (asynchronous successive halving for
all but ``ga``: each candidate promoted on its own); ``default`` is what
``deap-cnn search`` runs when told nothing (its default strategy and
``--rerank``), ``planned`` what ``deap-cnn search --budget-epochs`` runs (the
same strategy, its population and the candidates it reranks sized from the
budget by :func:`deap_cnn.search.fidelity.plan_budget`, every training
charged), ``+cheap`` adds aging's double tournament towards cheaper parents
(``--prefer-cheaper 0.7``); ``--sample-size`` sets aging's and the surrogate's tournament;
``+inherit`` only where the installed package supports it; ``+rerank``
(any strategy) stops the search early enough to retrain its ``--rerank``
best distinct genomes (default 3) from scratch for ``--rerank-epochs``
(default 2) with the next training seed, and picks the best of those
retrainings (:mod:`deap_cnn.search.rerank`); its best validation accuracy
and curve are the search's own. Methods that are not available are skipped
with a note.

Per method it prints mean ± sd over seeds of: the best validation accuracy
found, the test accuracy of its pick (the best-validated genome, retrained
``--final-epochs`` on the whole training subset and measured once on the whole
test set: the same final training for every pick), how far validation
overstates test (best validation - pick's test), compute and seconds spent,
and the compute each run needed to first reach random search's final best
validation accuracy (mean over seeds; runs that never reach it are counted
apart). The goals of issue 12 are checked at the end. ``<out>/search_quality.png``
plots best validation accuracy against compute, one line per method (mean
over seeds); ``<out>/runs.jsonl`` holds every run (a partial run still
reports with ``--report <out>``), ``<out>/table.txt`` the table.

The training seed is fixed (``TrainSettings.seed=0``), so on a CPU a genome
gets the same fitness in every run: the seeds vary the searches only.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import os
import shutil
import statistics
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from records import mean_sd, read_json_lines
from subsets import fashion_mnist_subset

from deap_cnn import Genome, SearchSpace
from deap_cnn.families import get_family
from deap_cnn.runs.config import default_rerank, default_strategy, fraction
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.fidelity import plan_budget
from deap_cnn.search.halving import SuccessiveHalving, async_rungs, halving_rungs
from deap_cnn.search.rerank import rerank, rerank_cost, rerank_evaluator, top_distinct
from deap_cnn.search.strategies import Budget, SearchContext, get_strategy, strategy_names
from deap_cnn.search.warmup import Warmup
from deap_cnn.training.devices import LOCAL_WORKERS_ENV, available_cpus
from deap_cnn.training.evaluator import Evaluator
from deap_cnn.training.final import train_and_test
from deap_cnn.training.proxy_evaluator import ProxyEvaluator, ProxySettings
from deap_cnn.training.settings import TrainSettings
from deap_cnn.training.sources import load_data

STRATEGIES = ("ga", "aging", "random", "tpe", "local", "surrogate")
#: The default run (about 100 minutes here): random search, the command line's default search (``default``: its
#: strategy and reranking), aging evolution alone, and aging evolution with asynchronous successive halving.
DEFAULT_METHODS = ("random", "default", "aging", "aging+halving")
#: Every method of issue 12's grid and the rerank variants (several hours here: see docs/benchmarks.md).
FULL_GRID = (
    "default", "ga", "ga+inherit", "aging", "aging+inherit", "aging+rerank", "aging+inherit+rerank", "aging+halving",
    "local", "surrogate", "random", "random+rerank", "tpe", "ga+halving", "random+halving", "tpe+halving",
)  # fmt: skip
QUICK_METHODS = ("ga", "aging", "random", "tpe", "random+halving", "aging+inherit+rerank")
BASELINE = "random"
UNLIMITED = 10**6  # trainings or generations: the compute budget stops every run first
TERA = 1e12
CHEAPER = 0.7  # +cheap: the probability that the cheaper of two tournament winners is the parent
WARMUP_PROXY = "synflow"  # +warmup: the zero-cost proxy that scores the warm-up's random genomes


class BudgetSpent(Exception):
    """Raised by :class:`Meter` at the first training asked for after the budget is spent."""


class Meter:
    """Every training a run pays for, in order: compute, seconds, fitness; stops the run at the budget.

    With ``rerank_k`` the search stops early enough to leave what reranking
    its current ``rerank_k`` best genomes for ``rerank_epochs`` would cost,
    so a reranking method spends the same budget in all.
    """

    def __init__(self, budget: float, images: int, rerank_k: int = 0, rerank_epochs: int = 0):
        self.budget = budget
        self.images = images  # training images per epoch
        self.rerank_k, self.rerank_epochs = rerank_k, rerank_epochs
        self.trace = []  # (cumulative compute, cumulative seconds, validation accuracy, genome)
        self.flops = {}  # genome -> forward FLOPs per image
        self.compute = self.seconds = 0.0

    def top(self) -> list:
        """The ``rerank_k`` best distinct genomes so far."""
        return top_distinct(((genome, accuracy) for _, _, accuracy, genome in self.trace), self.rerank_k)

    def reserve(self) -> float:
        if not self.rerank_k or not self.trace:
            return 0.0
        return rerank_cost([self.flops[genome] for genome in self.top()], self.images, self.rerank_epochs)

    def check(self):
        if self.compute + self.reserve() >= self.budget:
            raise BudgetSpent(f"{self.compute / TERA:.2f} T multiply-adds x images spent")

    def spend(self, record):
        self.compute += record.flops / 2 * self.images * record.epochs  # count_flops counts a multiply-add as 2
        self.seconds += record.seconds

    def add(self, record):
        self.spend(record)
        self.flops[record.genome] = record.flops
        accuracy = record.fitness[0] if record.status == "ok" else 0.0
        self.trace.append((self.compute, self.seconds, accuracy, record.genome))


class MeteredEvaluator(Evaluator):
    """An :class:`Evaluator` that books every training on its :class:`Meter` (shared by its halving rung copies)."""

    meter: Meter

    def record(self, genome, *args, **kwargs):
        self.meter.check()
        record = super().record(genome, *args, **kwargs)
        self.meter.add(record)
        return record


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--train-size",
        type=int,
        default=10000,
        help="Fashion-MNIST training images (stratified subset; 0: all)",
    )
    add("--data-seed", type=int, default=0)
    add("--seeds", type=int, default=5, help="search seeds 0..N-1 per method")
    add(
        "--budget",
        type=float,
        default=5.0,
        help="compute per run, in T multiply-adds x training images",
    )
    add("--epochs", type=int, default=1, help="training epochs per candidate")
    add(
        "--halving-epochs",
        type=int,
        default=3,
        help="+halving: epochs of the top rung (rungs from it and --eta)",
    )
    add("--batch-size", type=int, default=32)
    add("--lr", type=float, default=0.05)
    add("--fitness", default="best_val_acc", help="TrainSettings.fitness of a candidate")
    add(
        "--max-batches",
        type=int,
        default=0,
        help="cap on batches per epoch of a candidate (0: none; tests only)",
    )
    add(
        "--population",
        type=int,
        default=8,
        help="population of ga and aging; batch size of random and TPE",
    )
    add("--sample-size", type=int, default=None, help="aging, surrogate: tournament size (default: the strategy's)")
    add("--widths", type=int, nargs="+", default=[8, 16, 32])
    add("--max-skip-units", type=int, default=4)
    add(
        "--methods",
        nargs="+",
        default=list(DEFAULT_METHODS),
        help="strategy[+halving][+inherit][+rerank] ..., or all (the whole grid)",
    )
    add(
        "--eta",
        type=fraction,
        default=1 / 3,
        help="fraction promoted per rung of halving (1/3, 1/2, ...)",
    )
    add("--rerank", type=int, default=3, help="+rerank: the best distinct genomes retrained to choose the pick")
    add("--rerank-epochs", type=int, default=2, help="+rerank: epochs of each retraining (from scratch, next seed)")
    add("--warmup", type=int, default=100, help="+warmup: random genomes scored by synflow before the search")
    add("--proxy-batch", type=int, default=64, help="+warmup: the proxy's batch of images")
    add(
        "--final-epochs",
        type=int,
        default=6,
        help="epochs of the final training of every pick",
    )
    add(
        "--jobs",
        type=int,
        default=2,
        help="runs side by side in worker processes (1: all in this one)",
    )
    add(
        "--threads",
        type=int,
        default=1,
        help="torch threads (runs are serial: the meter counts in-process)",
    )
    add("--device", default="cpu")
    add("--out", default=None, help="output folder (default runs/search-quality-<time>)")
    add(
        "--report",
        default=None,
        metavar="FOLDER",
        help="print the table of FOLDER's runs.jsonl and stop",
    )
    add(
        "--quick",
        action="store_true",
        help="a few minutes: 1,000 images, tiny networks, 2 seeds",
    )
    return parser


def apply_quick(args):
    args.train_size, args.seeds, args.budget, args.epochs, args.batch_size = (
        1000,
        2,
        0.004,
        2,
        128,
    )
    args.widths, args.max_skip_units, args.population, args.max_batches = (
        [4, 8],
        3,
        3,
        3,
    )
    args.final_epochs = 1
    if args.methods == list(DEFAULT_METHODS):
        args.methods = list(QUICK_METHODS)


FLAGS = ("halving", "inherit", "rerank")


def parse_method(text: str) -> tuple[str, bool, bool, bool]:
    """``"ga+halving+inherit"`` -> ``("ga", True, True, False)``: strategy, halving, inherit, rerank.

    ``default`` is what ``deap-cnn search`` runs when told nothing: its default strategy, reranked as it reranks;
    ``planned`` is ``deap-cnn search --budget-epochs``: the same, sized by its budget
    (:func:`default_plan`). ``+cheap`` (aging, default, planned) adds the double tournament towards cheaper
    parents, and ``+warmup`` starts aging from the best of ``--warmup`` random genomes by synflow, its
    multiply-adds charged (both read by :func:`run_one`).
    """
    strategy, *flags = text.split("+")
    if strategy in ("default", "planned") and set(flags) <= {"cheap", "warmup"}:
        return default_strategy(("accuracy",), False), False, False, default_rerank(("accuracy",)) > 0
    flags = [flag for flag in flags if not (flag in ("cheap", "warmup") and strategy == "aging")]
    unknown = set(flags) - set(FLAGS)
    if strategy not in STRATEGIES or unknown:
        raise SystemExit(
            f"error: unknown method {text!r}: a strategy of {STRATEGIES} with any of "
            f"{', '.join('+' + flag for flag in FLAGS)}, or default or planned (+cheap, +warmup)"
        )
    return (strategy, *(flag in flags for flag in FLAGS))


def inheritance_supported() -> bool:
    """Whether the installed package lets children inherit weights (the evaluator's ``weights_dir``)."""
    return "weights_dir" in inspect.signature(Evaluator.__init__).parameters


def availability(method: str) -> str | None:
    """Why ``method`` cannot run here, or ``None``."""
    strategy, halving, inherit, _ = parse_method(method)
    if strategy not in strategy_names():
        return f"strategy {strategy!r} is not registered in this deap_cnn"
    if halving and not get_strategy(strategy).supports_halving:
        return f"strategy {strategy!r} does not take successive halving"
    if inherit and (strategy not in ("ga", "aging") or not inheritance_supported()):
        return f"weight inheritance is not available for {strategy!r} in this deap_cnn"
    return None


def default_plan(args, space, images):
    """The command line's ``--budget-epochs`` plan for this compute budget: population, reranked candidates.

    The budget is turned into epochs of a typical candidate (the mean multiply-adds of 200 random genomes,
    drawn with their own seed), which :func:`~deap_cnn.search.fidelity.plan_budget` then splits; the
    meter charges each training its real compute all the same.
    """
    import random

    from deap_cnn.families.cnn_ga.operators import random_genome

    rng = random.Random(12345)
    typical = statistics.fmean(space.cost(random_genome(space, rng)) for _ in range(200))
    epochs = max(args.epochs, int(args.budget * TERA / (typical * images)))
    return plan_budget(epochs, args.epochs, args.rerank_epochs)


def proxy_score(evaluator, meter, genome) -> float:
    """``evaluator``'s proxy of ``genome``, its multiply-adds and seconds charged to ``meter``."""
    record = evaluator.record(genome)
    meter.compute += record.macs
    meter.seconds += record.seconds
    return record.fitness[0] if record.status == "ok" else float("nan")


def run_one(method, seed, args, settings, source, space, images, out: Path) -> dict:
    """One search until the budget is spent; its trace and its pick."""
    strategy, halving, inherit, reranking = parse_method(method)
    population, rerank_k = args.population, args.rerank
    if method.split("+")[0] == "planned":  # sized by its budget, as deap-cnn search --budget-epochs sizes it
        plan = default_plan(args, space, images)
        population, rerank_k, reranking = plan.population, plan.rerank, plan.rerank > 0
    folder = out / "stores" / f"{method}-seed{seed}"
    if folder.exists():
        shutil.rmtree(folder)  # a rerun of an unfinished run: a reused store would serve free cache hits
    folder.mkdir(parents=True)
    meter = Meter(args.budget * TERA, images, *((rerank_k, args.rerank_epochs) if reranking else ()))
    extra = {"weights_dir": str(folder / "weights")} if inherit else {}
    evaluator = MeteredEvaluator(source, space, settings, device=args.device, threads=args.threads, **extra)
    evaluator.meter = meter
    store = ResultsStore(folder / "results.sqlite", fingerprint=evaluator.fingerprint())
    halver = None
    options = {"map_function": map, "seed": seed, "store": store, "sample_size": args.sample_size}
    if "+cheap" in method:  # aging's double tournament towards the cheaper of two good parents
        options["cheaper"] = CHEAPER
    if "+warmup" in method:
        options["warmup"] = Warmup(partial(proxy_score, ProxyEvaluator(source, space, ProxySettings(
            (WARMUP_PROXY,), batch_size=args.proxy_batch, seed=seed)), meter), args.warmup)  # fmt: skip
    if halving:
        evaluator.settings = dataclasses.replace(settings, epochs=args.halving_epochs)
        rungs = halving_rungs(args.halving_epochs, args.eta)
        if get_strategy(strategy).asynchronous:  # each candidate promoted on its own
            halver = async_rungs(evaluator, rungs, args.eta, store=partial(ResultsStore, folder / "halving.sqlite"))
            options["rungs"] = halver
        else:
            halver = SuccessiveHalving(
                evaluator, rungs=rungs, eta=args.eta, store=partial(ResultsStore, folder / "halving.sqlite")
            )
            options["evaluate_population"] = halver
    if inherit:
        options["weights_folder"] = str(folder / "weights")
    if strategy in ("ga", "aging", "local", "surrogate"):
        budget = Budget(population=population, generations=UNLIMITED, trainings=UNLIMITED)
    else:
        budget = Budget(population=population, generations=0, trainings=UNLIMITED)
    started = time.perf_counter()
    stopped = "budget"
    try:
        get_strategy(strategy).run(get_family("cnn-ga"), space, evaluator.record, budget, SearchContext(**options))
        stopped = "strategy ended"  # the space ran out of new genomes, or the strategy stopped itself
    except BudgetSpent:
        pass
    finally:
        for closing in (halver, store):
            if closing is not None:
                closing.close()
    trace = list(meter.trace)  # the search's own trainings: reranking's are not part of its curve
    best = max(trace, key=lambda point: point[2]) if trace else (0.0, 0.0, float("nan"), None)
    pick, reranked = best[3], []
    if reranking and trace:
        again = rerank_evaluator(evaluator, args.rerank_epochs)
        train = partial(Evaluator.record, again)  # past the meter's check: the reserve was kept for this

        def metered(genome):
            record = train(genome)
            meter.spend(record)
            return record

        ranked = rerank([Genome.from_string(text) for text in meter.top()], metered)
        pick = str(ranked[0][0])
        reranked = [[str(genome), record.fitness[0], record.status] for genome, record in ranked]
    wall = time.perf_counter() - started
    return {
        "method": method,
        "seed": seed,
        "best_genome": pick,
        "search_best_genome": best[3],
        "reranked": reranked,
        "best_val_accuracy": best[2],
        "compute": meter.compute,
        "train_seconds": meter.seconds,
        "wall_seconds": wall,
        "trainings": len(trace),
        "population": population,
        "stopped": stopped,
        "trace": [[c, s, a] for c, s, a, _ in trace],
        "trace_genomes": [genome for *_, genome in trace],
    }


_FINALS = {}  # genome -> test accuracy of its final training, per process: a pick found again is not retrained


def _share_finals(finals):
    _FINALS.update(finals)


def run_and_test(task) -> dict:
    """One run (:func:`run_one`) and the final training of its pick."""
    method, seed, args, settings, final_settings, source, space, images, out = task
    run = run_one(method, seed, args, settings, source, space, images, out)
    genome = run["best_genome"]
    if genome is not None and genome not in _FINALS:
        final = train_and_test(Genome.from_string(genome), source, space, final_settings, args.device)
        _FINALS[genome] = final["test_accuracy"]
    run["test_accuracy"] = _FINALS.get(genome, math.nan)
    run["budget"] = args.budget * TERA
    return run


def best_so_far(trace, compute: float) -> float:
    """Best validation accuracy among the trainings finished by ``compute`` (nan before the first)."""
    values = [accuracy for spent, _, accuracy in trace if spent <= compute]
    return max(values) if values else math.nan


def compute_to_reach(trace, target: float) -> float | None:
    """Compute spent when the run's best validation accuracy first reached ``target``, or ``None``."""
    for spent, _, accuracy in trace:
        if accuracy >= target:
            return spent
    return None


def summarise(runs: list[dict], budget: float) -> tuple[str, dict]:
    """The table and the per-method figures (means and sds over seeds)."""
    methods = list(dict.fromkeys(r["method"] for r in runs))
    baseline = [r["best_val_accuracy"] for r in runs if r["method"] == BASELINE]
    target = statistics.fmean(baseline) if baseline else math.nan
    header = (
        f"{'method':<22} {'runs':>4}  {'best val acc':<15}  {'test acc of pick':<16}  {'val - test':<16}  "
        f"{'compute (T)':<13}  {'seconds':>7}  {'reach random':<22}"
    )
    lines = [header, "-" * len(header)]
    figures = {}
    for method in methods:
        group = [r for r in runs if r["method"] == method]
        reach = [compute_to_reach(r["trace"], target) for r in group] if not math.isnan(target) else []
        reached = [c for c in reach if c is not None]
        figures[method] = {
            "runs": len(group),
            "seeds": [r["seed"] for r in group],
            "val": [r["best_val_accuracy"] for r in group],
            "test": [r.get("test_accuracy", math.nan) for r in group],
            "compute": [r["compute"] for r in group],
            "reach": reached,
            "reached": f"{len(reached)}/{len(group)}",
        }
        gap = [r["best_val_accuracy"] - r.get("test_accuracy", math.nan) for r in group]
        reach_text = (
            f"{statistics.fmean(reached) / budget:.0%} of budget ({len(reached)}/{len(group)})" if reached else "never"
        )
        lines.append(
            f"{method:<22} {len(group):>4}  {mean_sd(figures[method]['val']):<15}  "
            f"{mean_sd(figures[method]['test']):<16}  {mean_sd(gap):<16}  "
            f"{mean_sd(figures[method]['compute'], 2, TERA):<13}  "
            f"{statistics.fmean(r['train_seconds'] for r in group):>7.0f}  {reach_text:<22}"
        )
    lines.append(
        f"\nreach random: compute at which a run's best validation accuracy first reached random search's final "
        f"best ({target:.4f}, mean over seeds), as a share of the budget ({budget / TERA:g} T), over the runs that did"
    )
    return "\n".join(lines), {"target": target, "methods": figures}


def goals(figures: dict, budget: float) -> str:
    """Issue 12's two goals, method by method (every strategy but the baselines, and ``default``)."""
    if BASELINE not in figures["methods"]:
        return "goals: not checked (no random-search runs)"
    random_test = [t for t in figures["methods"][BASELINE]["test"] if not math.isnan(t)]
    lines = ["goals (evolutionary methods against random search at equal compute):"]
    for method, figure in figures["methods"].items():
        if method == BASELINE or method.startswith(("tpe", "random")):
            continue
        reach = figure["reach"]
        fast = len(reach) == figure["runs"] and reach and statistics.fmean(reach) <= 0.5 * budget
        # Halving's validation accuracy comes from its longer top rung: not comparable with random's.
        fast_text = "n/a (halving)" if "+halving" in method else ("yes" if fast else "no")
        test = [t for t in figure["test"] if not math.isnan(t)]
        better = False
        if len(test) > 1 and len(random_test) > 1:
            difference = statistics.fmean(test) - statistics.fmean(random_test)
            better = difference > max(statistics.stdev(test), statistics.stdev(random_test))
        lines.append(
            f"  {method:<22} reaches random's best with <= 50% of the compute: {fast_text}; "
            f"test accuracy higher by more than one sd: {'yes' if better else 'no'}"
        )
    paired_lines = [
        paired_difference(method, figure, figures["methods"][BASELINE])
        for method, figure in figures["methods"].items()
        if method != BASELINE
    ]
    paired_lines = [line for line in paired_lines if line]
    if paired_lines:
        lines.append(
            "paired by seed (a seed's first draws are the same genomes for every method, so much of the "
            "spread over seeds is shared): test accuracy of the pick minus random search's"
        )
        lines.extend(paired_lines)
    return "\n".join(lines)


def paired_difference(method: str, figure: dict, baseline: dict) -> str:
    """``method``'s pick's test accuracy minus random search's, seed by seed: mean ± sd, standard error, wins."""
    by_seed = dict(zip(baseline["seeds"], baseline["test"], strict=True))
    differences = [
        test - by_seed[seed]
        for seed, test in zip(figure["seeds"], figure["test"], strict=True)
        if seed in by_seed and not math.isnan(test) and not math.isnan(by_seed[seed])
    ]
    if len(differences) < 2:
        return ""
    sd = statistics.stdev(differences)
    wins = sum(d > 0 for d in differences)
    losses = sum(d < 0 for d in differences)
    return (
        f"  {method:<22} {statistics.fmean(differences):+.4f} ± {sd:.4f} (standard error "
        f"{sd / math.sqrt(len(differences)):.4f}; better on {wins}, worse on {losses}, "
        f"equal on {len(differences) - wins - losses} of {len(differences)} seeds)"
    )


def plot(runs: list[dict], budget: float, path: Path):
    """Best validation accuracy against compute, mean over seeds, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = [budget * k / 100 for k in range(1, 101)]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for method in dict.fromkeys(r["method"] for r in runs):
        group = [r for r in runs if r["method"] == method]
        xs, ys = [], []
        for point in grid:
            values = [best_so_far(r["trace"], point) for r in group]
            if all(not math.isnan(v) for v in values):
                xs.append(point / TERA)
                ys.append(statistics.fmean(values))
        axes.plot(xs, ys, label=method, drawstyle="steps-post")
    axes.set_xlabel("compute (T multiply-adds x training images)")
    axes.set_ylabel("best validation accuracy (mean over seeds)")
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def read_runs(path: Path) -> list[dict]:
    return read_json_lines(path)


def finish(runs, budget, out: Path) -> str:
    table, figures = summarise(runs, budget)
    text = table + "\n\n" + goals(figures, budget)
    (out / "table.txt").write_text(text + "\n")
    plot(runs, budget, out / "search_quality.png")
    return text


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.report:
        folder = Path(args.report)
        runs = read_runs(folder / "runs.jsonl")
        if not runs:
            raise SystemExit(f"error: no finished runs in {folder / 'runs.jsonl'}")
        print(finish(runs, runs[0]["budget"], folder))
        return runs
    if args.quick:
        apply_quick(args)
    for name in (
        "seeds",
        "epochs",
        "halving_epochs",
        "population",
        "final_epochs",
        "rerank",
        "rerank_epochs",
        "threads",
        "jobs",
    ):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not args.budget > 0:
        raise SystemExit(f"error: --budget must be a positive number of T multiply-adds x images, got {args.budget}")
    methods, skipped = [], []
    if args.methods == ["all"]:
        args.methods = list(FULL_GRID)
    for method in args.methods:
        reason = availability(method)
        (skipped.append(f"{method} ({reason})") if reason else methods.append(method))
    if not methods:
        raise SystemExit("error: none of the methods asked for can run here: " + "; ".join(skipped))
    out = Path(args.out or time.strftime("runs/search-quality-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    source = fashion_mnist_subset(args.train_size, args.data_seed)
    dataset = load_data(source)
    space = SearchSpace(
        input_shape=dataset.input_shape,
        n_classes=dataset.n_classes,
        widths=tuple(args.widths),
        max_skip_units=args.max_skip_units,
    )
    settings = TrainSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        fitness=args.fitness,
        max_batches_per_epoch=args.max_batches or None,
    )
    train_idx, _ = dataset.split(settings.val_fraction, settings.split_seed)
    images = len(train_idx) if not args.max_batches else min(len(train_idx), args.max_batches * args.batch_size)
    final_settings = dataclasses.replace(settings, epochs=args.final_epochs, max_batches_per_epoch=None)
    print(
        f"search quality on {dataset.name}: {len(dataset.x_train)} training images ({len(train_idx)} trained on), "
        f"{len(dataset.x_test)} test images; widths {tuple(args.widths)}, up to {args.max_skip_units} skip units; "
        f"{args.epochs} epochs per candidate (batch {args.batch_size}, fitness {args.fitness}); budget "
        f"{args.budget:g} T multiply-adds x images per run; seeds 0..{args.seeds - 1}; methods {', '.join(methods)}; "
        f"picks retrained {args.final_epochs} epochs; out {out}",
        flush=True,
    )
    for note in skipped:
        print(f"  skipped: {note}", flush=True)
    # The final trainings take their torch threads from here (default_threads): --threads, as the searches.
    os.environ.setdefault(LOCAL_WORKERS_ENV, str(max(1, available_cpus() // args.threads)))
    log = out / "runs.jsonl"
    runs = [r for r in read_runs(log) if r["method"] in methods]
    done = {(r["method"], r["seed"]) for r in runs}
    _FINALS.update({r["best_genome"]: r["test_accuracy"] for r in runs})
    tasks = [
        (method, seed, args, settings, final_settings, source, space, images, out)
        for seed in range(args.seeds)
        for method in methods
        if (method, seed) not in done
    ]
    started = time.perf_counter()
    pool = None
    if args.jobs > 1 and len(tasks) > 1:
        import multiprocessing

        # Whole runs side by side, each serial: the meter stays in the process that trains.
        pool = multiprocessing.get_context("spawn").Pool(min(args.jobs, len(tasks)), initializer=_share_finals,
                                                         initargs=(dict(_FINALS),))  # fmt: skip
        results = pool.imap_unordered(run_and_test, tasks)
    else:
        results = map(run_and_test, tasks)
    try:
        for run in results:
            runs.append(run)
            with open(log, "a") as handle:
                handle.write(json.dumps(run) + "\n")
            print(
                f"  seed {run['seed']} {run['method']:<22} best {run['best_genome']} "
                f"val {run['best_val_accuracy']:.4f} test {run['test_accuracy']:.4f}; {run['trainings']} trainings, "
                f"{run['compute'] / TERA:.2f} T, {run['train_seconds']:.0f} s training ({run['stopped']}); "
                f"{time.perf_counter() - started:.0f} s so far",
                flush=True,
            )
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    text = finish(runs, args.budget * TERA, out)
    print("\n" + text + f"\n\nwall time {time.perf_counter() - started:.0f} s", flush=True)
    return runs


if __name__ == "__main__":
    main()
