"""Search strategies on a tabular NAS benchmark: hundreds of seeds in seconds, and figures to set beside the literature.

    python benchmarks/nas_bench.py --table ../shared/nas-bench/nats-tss-cifar10.csv
    python benchmarks/nas_bench.py --table T.csv --methods aging local --seeds 200 --queries 100 150 --noise 0 0.3
    python benchmarks/nas_bench.py --report runs/nas-bench-20261203-120000

A "training" is a lookup in the table (``deap_cnn.lookup.LookupEvaluator``)
through the real strategies (``deap_cnn.search.strategies.get_strategy(name).run``)
of the ``nats`` family (NAS-Bench-201 / NATS-Bench topology cells), so a
strategy's whole course costs a fraction of a second. The budget is
``--queries``: distinct architectures looked up (cache hits are free), each
at the full fidelity (``--epochs``); a method that evaluates cheaper first
(``+halving``: successive halving's rungs, ``--eta``) pays a rung in
proportion to its epochs, and ``+rerank`` keeps back what retraining its
``--rerank`` best genomes for ``--rerank-epochs`` costs. ``--noise`` adds
seeded Gaussian noise of that standard deviation to every lookup at the full
fidelity (``--lookup-noise``: a short training's noise), shrinking with the
square root of the epochs for longer evaluations; a seed draws its own.

Per method, noise level and query budget it prints the **pick's noise-free
score** (the genome the search would report, scored by the table itself):
mean ± sd over ``--seeds``, its standard error, the regret to the table's
optimum, how many seeds picked the optimum and one of the table's ten
best, and ``seen``: the regret of the best genome the search evaluated (what
a perfect reranking would pick, so the pick's regret splits into the
search's and the reranking's); ``anytime.png`` plots the pick's noise-free score against queries
(mean over seeds). Methods whose course does not depend on the budget run
once at the largest; their picks at smaller budgets are read off the way.
``<out>/runs.jsonl`` holds every run (a partial run still reports with
``--report``), ``<out>/table.txt`` the tables.

For reference: the NAS-Bench-201 paper (Dong and Yang 2020) reports, with
12-epoch validation accuracy as the search's fitness (a noisier proxy than
these tables), regularized evolution 93.92 ± 0.30, random search 93.70 ±
0.36 and BOHB 93.61 ± 0.52 test accuracy on CIFAR-10 (optimum 94.37).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from records import mean_sd, read_json_lines

from deap_cnn.families import get_family
from deap_cnn.lookup import LookupEvaluator, LookupSettings, TableError, load_table
from deap_cnn.lookup.evaluator import parse_fidelities
from deap_cnn.runs.config import default_rerank, default_strategy, fraction
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.fidelity import RERANK_SHARE, TURNOVER, plan_budget
from deap_cnn.search.halving import SuccessiveHalving, async_rungs, halving_rungs
from deap_cnn.search.rerank import rerank, rerank_evaluator, top_distinct
from deap_cnn.search.strategies import Budget, SearchContext, get_strategy, strategy_names
from deap_cnn.search.warmup import Warmup

FAMILY = "nats"
#: What every single-objective strategy is measured as (and the command line's default search, named ``default``).
SINGLE_OBJECTIVE = ("random", "tpe", "ga", "aging", "local", "surrogate")
FLAGS = ("rerank", "halving", "warmup")
UNLIMITED = 10**6  # trainings or generations: the query budget stops every run first


class BudgetSpent(Exception):
    """Raised at the first lookup asked for after the budget is spent."""


class Meter:
    """Every lookup a run pays for, in order; stops the run at its budget (less what reranking will take)."""

    def __init__(self, budget: float, base_epochs: int, reserve: float = 0.0):
        self.budget, self.base_epochs, self.reserve = budget, base_epochs, reserve
        self.spent = 0.0
        self.trace = []  # (queries spent, search fitness, noise-free score, epochs, genome)

    def cost(self, epochs: int) -> float:
        return epochs / self.base_epochs

    def check(self, epochs: int):
        if self.spent + self.cost(epochs) > self.budget - self.reserve + 1e-9:
            raise BudgetSpent(f"{self.spent:g} queries spent")

    def add(self, record):
        self.spent += self.cost(record.epochs)
        self.trace.append((self.spent, record.fitness[0], record.noise_free_fitness, record.epochs, record.genome))


class MeteredLookup(LookupEvaluator):
    """A :class:`LookupEvaluator` that books every lookup on its :class:`Meter` (its rung copies share it)."""

    meter: Meter

    def record(self, genome):
        self.meter.check(self.settings.epochs)
        record = super().record(genome)
        self.meter.add(record)
        return record


def parse_method(text: str) -> tuple[str, bool, bool]:
    """``"aging+rerank"`` -> ``("aging", True, False)``: strategy, rerank, halving; ``default`` is the command line's.

    ``+warmup`` (read by :func:`run_one`) starts aging or the surrogate from the best of ``--warmup`` random
    genomes by ``--warmup-score``."""
    strategy, *flags = text.split("+")
    if strategy == "default" and set(flags) <= {"warmup"}:
        return default_strategy(("accuracy",), False), default_rerank(("accuracy",)) > 0, False
    unknown = set(flags) - set(FLAGS)
    if strategy not in SINGLE_OBJECTIVE or unknown:
        raise SystemExit(
            f"error: unknown method {text!r}: one of {', '.join(SINGLE_OBJECTIVE)} with any of "
            f"{', '.join('+' + flag for flag in FLAGS)}, or default"
        )
    return strategy, "rerank" in flags, "halving" in flags


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--table", help="the benchmark table: CSV of architecture strings and scores (see deap-cnn nats-table)")
    add("--lookup-column", default=None, help="the table's score column (default: its only numeric column)")
    add("--fidelity", action="append", default=None, metavar="EPOCHS=COLUMN",
        help="a training length and its column (repeat: 12=COL12 --fidelity 200=COL200); the search evaluates at "
             "the shortest, halving's rungs and reranking at the longer ones")  # fmt: skip
    add("--truth-column", default=None, help="the column a pick is judged by (default: the search's own column)")
    add("--budget-epochs", type=int, nargs="+", default=None,
        help="budgets in epochs (every lookup charged its fidelity's epochs), instead of --queries")  # fmt: skip
    add("--methods", nargs="+", default=["default", *SINGLE_OBJECTIVE],
        help="strategy[+rerank][+halving] ..., or default (the command line's own search)")  # fmt: skip
    add("--seeds", type=int, default=100, help="search seeds 0..N-1 per method and noise level")
    add("--queries", type=int, nargs="+", default=[50, 100, 150, 300], help="budgets, in full-fidelity lookups")
    add("--noise", type=float, nargs="+", default=[0.0, 0.3], help="noise sd of a lookup at --epochs (0: exact)")
    add(
        "--population", type=int, default=20, help="population of ga, aging, surrogate; local's start; random/tpe batch"
    )
    add("--sample-size", type=int, default=None, help="aging, surrogate: tournament size (default: the strategy's)")
    add("--epochs", type=int, default=3, help="the full fidelity; +halving's rungs are fractions of it")
    add("--eta", type=fraction, default=1 / 3, help="+halving: fraction promoted per rung")
    add("--rerank", type=int, default=3, help="+rerank: the best distinct genomes looked up again")
    add("--rerank-epochs", type=int, default=None, help="+rerank: their fidelity (default 2 x --epochs)")
    add("--rerank-share", type=float, default=RERANK_SHARE,
        help="default with --fidelity: the share of the budget its plan spends on reranking")  # fmt: skip
    add("--turnover", type=float, default=TURNOVER,
        help="default with --fidelity: the plan's trainings per member of the population")  # fmt: skip
    add("--warmup", type=int, default=100, help="+warmup: random genomes scored before the search (free)")
    add("--warmup-score", default="parameters",
        help="+warmup: what scores them: parameters, flops (the space's counts) or a column of the table")  # fmt: skip
    add("--jobs", type=int, default=2, help="runs side by side in worker processes (1: all in this one)")
    add("--out", default=None, help="output folder (default runs/nas-bench-<time>)")
    add("--report", default=None, metavar="FOLDER", help="print the tables of FOLDER's runs.jsonl and stop")
    return parser


def anytime(method: str) -> bool:
    """Whether a method's course is the same whatever its budget (so one run serves every budget)."""
    _, reranking, _ = parse_method(method)
    return not reranking


def fidelities(args) -> tuple:
    """``((epochs, column), ...)`` of ``--fidelity``, shortest first; empty for a one-column table."""
    return parse_fidelities(args.fidelity or ())


def search_epochs(args) -> int:
    """The fidelity a search evaluates at: the shortest of ``--fidelity``, else ``--epochs``."""
    return fidelities(args)[0][0] if args.fidelity else args.epochs


def long_epochs(args) -> int:
    """Reranking's fidelity: ``--rerank-epochs``, else the longest of ``--fidelity``, else 2 x ``--epochs``."""
    if args.rerank_epochs:
        return args.rerank_epochs
    return fidelities(args)[-1][0] if args.fidelity else 2 * args.epochs


def unit(args) -> int:
    """The epochs one budget unit buys: 1 with ``--budget-epochs``, else a query at the search's fidelity."""
    return 1 if args.budget_epochs else search_epochs(args)


def budgets(args) -> list:
    return list(args.budget_epochs or args.queries)


def pick(trace, budget: float, top_epochs: int):
    """``(genome, noise-free score)`` the search reports after ``budget`` units: its best top-fidelity fitness."""
    best = None
    for spent, fitness, exact, epochs, genome in trace:
        if spent > budget + 1e-9:
            break
        if epochs == top_epochs and (best is None or fitness > best[0]):
            best = (fitness, exact, genome)
    return (None, math.nan) if best is None else (best[2], best[1])


def seen(trace, budget: float) -> float:
    """The best noise-free score among the genomes a search evaluated within ``budget`` units (any fidelity).

    What a perfect reranking of everything it evaluated would pick: the pick's regret beyond this one's is the
    reranking's, this one's is the search's."""
    scores = [exact for spent, _, exact, _, _ in trace if spent <= budget + 1e-9 and not math.isnan(exact)]
    return max(scores, default=math.nan)


def warmup_scorer(args, space):
    """``scorer(genome) -> float`` of ``--warmup-score``: the space's parameter or FLOP count, or a table column."""
    if args.warmup_score == "parameters":
        return space.parameters
    if args.warmup_score == "flops":
        return space.macs
    column = load_table(args.table, space, args.warmup_score)
    return lambda genome: column[str(genome)]


def run_one(task) -> dict:
    """One search of ``method`` at ``noise`` with ``seed`` until ``budget`` units are spent."""
    method, noise, seed, budget, args = task
    strategy, reranking, halving = parse_method(method)
    family = get_family(FAMILY)
    epochs, rerank_epochs, per_unit = search_epochs(args), long_epochs(args), unit(args)
    population, rerank_k = args.population, args.rerank
    planned = method.split("+")[0] == "default" and args.fidelity  # deap-cnn search --budget-epochs
    if planned:  # the command line's multi-fidelity search: sized by its budget
        plan = plan_budget(budget * per_unit, epochs, rerank_epochs, share=args.rerank_share, turnover=args.turnover)
        population, rerank_k, reranking = plan.population, plan.rerank, plan.rerank > 0
    reserve = rerank_k * rerank_epochs / per_unit if reranking else 0.0
    meter = Meter(budget, per_unit, reserve)
    settings = LookupSettings(
        column=None if args.fidelity else args.lookup_column, noise=noise, noise_epochs=epochs, epochs=epochs,
        seed=seed, fidelities=fidelities(args), truth=args.truth_column,
    )  # fmt: skip
    space = family.space((3, 32, 32), 10, {})
    evaluator = MeteredLookup(args.table, space, settings)
    evaluator.meter = meter
    if evaluator.deterministic:  # the command line skips it too: a noise-free lookup scores the same again
        reranking, meter.reserve = False, 0.0
    options = {"seed": seed, "sample_size": args.sample_size}
    if "+warmup" in method:
        options["warmup"] = Warmup(warmup_scorer(args, space), args.warmup)
    top = epochs
    if halving:
        rungs = tuple(e for e, _ in fidelities(args)) if args.fidelity else halving_rungs(args.epochs, args.eta)
        top = rungs[-1]
        if get_strategy(strategy).asynchronous:
            options["rungs"] = async_rungs(evaluator, rungs, args.eta)
        else:
            options["evaluate_population"] = SuccessiveHalving(evaluator, rungs=rungs, eta=args.eta)
    if strategy in ("ga", "aging", "local", "surrogate"):
        generations = UNLIMITED if strategy != "ga" else math.ceil(4 * budget * per_unit / epochs / population) + 1
        search_budget = Budget(population=population, generations=generations, trainings=UNLIMITED)
    else:
        search_budget = Budget(population=population, generations=0, trainings=UNLIMITED)
    started = time.perf_counter()
    stopped = "budget"
    try:
        context = SearchContext(cache=EvaluationCache(), **options)
        get_strategy(strategy).run(family, space, evaluator.record, search_budget, context)
        stopped = "strategy ended"
    except BudgetSpent:
        pass
    trace = list(meter.trace)
    result = {"method": method, "noise": noise, "seed": seed, "budget": budget, "stopped": stopped}
    if reranking:
        scored = [(genome, fitness) for _, fitness, _, e, genome in trace if e == top]
        again = rerank_evaluator(evaluator, rerank_epochs)
        meter.reserve = 0.0
        space_parse = space.parse
        ranked = rerank([space_parse(text) for text in top_distinct(scored, rerank_k)], again.record)
        chosen = ranked[0][1] if ranked else None
        result["picks"] = {str(budget): chosen.noise_free_fitness if chosen else math.nan}
        result["seen"] = {str(budget): seen(trace, budget)}
        result["pick_genomes"] = {str(budget): chosen.genome if chosen else None}
    else:
        picks = {}
        for q in budgets(args):
            # A run per budget answers for its own budget only; one run serves every budget up to its own.
            if q == budget or (anytime(method) and q < budget):
                genome, score = pick(trace, q, top)
                picks[str(q)] = (genome, score)
        result["picks"] = {q: score for q, (_, score) in picks.items()}
        result["seen"] = {q: seen(trace, float(q)) for q in picks}
        result["pick_genomes"] = {q: genome for q, (genome, _) in picks.items()}
        step = max(1, int(budget) // 300)  # at most 300 points a curve
        result["curve"] = [pick(trace, q, top)[1] for q in range(step, int(budget) + 1, step)]
        result["curve_step"] = step
    result["population"], result["rerank"] = population, rerank_k if reranking else 0
    result["unit"] = "epochs" if args.budget_epochs else "queries"
    result["queries"] = meter.spent
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def tasks_for(args, methods, done) -> list:
    """Every (method, noise, seed, budget) run still to do: one per budget for budget-dependent methods."""
    tasks = []
    for noise in args.noise:
        for method in methods:
            runs = [max(budgets(args))] if anytime(method) else sorted(budgets(args))
            for seed in range(args.seeds):
                for budget in runs:
                    if (method, noise, seed, budget) not in done:
                        tasks.append((method, noise, seed, budget, args))
    return tasks


def figures(runs, method, noise, q, key="picks") -> list:
    """The noise-free scores of ``method``'s picks at ``q`` queries and ``noise``, one per seed.

    ``key="seen"``: the best noise-free score among the genomes each search evaluated (see :func:`seen`)."""
    return [
        r[key][str(q)]
        for r in runs
        if r["method"] == method
        and r["noise"] == noise
        and str(q) in r.get(key, {})
        and not math.isnan(r[key][str(q)])
        and (anytime(method) or r["budget"] == q)  # a seed counts once: budget-bound methods run once per budget
    ]


def summarise(runs, optimum: float, tenth: float) -> str:
    """One table per noise level and budget: the pick's noise-free score per method."""
    methods = list(dict.fromkeys(r["method"] for r in runs))
    lines = []
    for noise in sorted({r["noise"] for r in runs}):
        queries = sorted({int(q) for r in runs if r["noise"] == noise for q in r["picks"]})
        for q in queries:
            units = next((r.get("unit", "queries") for r in runs if str(q) in r["picks"]), "queries")
            header = (f"noise sd {noise:g}, {q} {units}: the pick's score in the table (optimum {optimum:g}, "
                      f"10th best {tenth:g})")  # fmt: skip
            lines += ["", header, f"{'method':<20} {'seeds':>5}  {'mean ± sd':<17} {'s.e.':>6} {'regret':>7}  "
                                  f"{'optimum':>8} {'top 10':>8}  {'seen':>6}"]  # fmt: skip
            for method in methods:
                values = figures(runs, method, noise, q)
                if not values:
                    continue
                se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
                found = sum(v >= optimum - 1e-9 for v in values)
                top = sum(v >= tenth - 1e-9 for v in values)
                best_seen = figures(runs, method, noise, q, "seen")  # runs before this column have none
                seen_text = f"{optimum - statistics.fmean(best_seen):>6.3f}" if best_seen else f"{'-':>6}"
                lines.append(
                    f"{method:<20} {len(values):>5}  {mean_sd(values):<17} {se:>6.3f} "
                    f"{optimum - statistics.fmean(values):>7.3f}  {found:>4}/{len(values):<3} {top:>4}/{len(values):<3}"
                    f"  {seen_text}"
                )
    return "\n".join(lines).lstrip("\n")


def goals(runs, optimum: float) -> str:
    """Issue 18's goals for the command line's default search (method ``default``)."""
    checks = []
    for noise, q, what, ok in (
        (0.0, 150, "mean >= 94.33", lambda v: statistics.fmean(v) >= 94.33),
        (0.0, 150, "optimum in >= 85% of seeds", lambda v: sum(x >= optimum - 1e-9 for x in v) >= 0.85 * len(v)),
        (0.0, 100, "mean >= 94.30", lambda v: statistics.fmean(v) >= 94.30),
        (0.3, 150, "mean >= 94.20", lambda v: statistics.fmean(v) >= 94.20),
    ):
        values = figures(runs, "default", noise, q)
        if values:
            checks.append(f"  noise {noise:g}, {q} queries: {what}: {'met' if ok(values) else 'NOT met'}")
    if not checks:
        return ""
    return "goals for the default search (issue 18, NATS-Bench CIFAR-10 table):\n" + "\n".join(checks)


def plot(runs, path: Path):
    """The pick's noise-free score against queries, mean over seeds: one panel per noise level, a line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    noises = sorted({r["noise"] for r in runs if "curve" in r})
    if not noises:
        return
    figure, axes = plt.subplots(1, len(noises), figsize=(6 * len(noises), 4.2), squeeze=False)
    for axis, noise in zip(axes[0], noises, strict=True):
        for method in dict.fromkeys(r["method"] for r in runs):
            curves = [r["curve"] for r in runs if r["method"] == method and r["noise"] == noise and "curve" in r]
            if not curves:
                continue
            length = min(len(c) for c in curves)
            mean = [statistics.fmean(c[i] for c in curves if not math.isnan(c[i])) if any(
                not math.isnan(c[i]) for c in curves) else math.nan for i in range(length)]  # fmt: skip
            step = next(r.get("curve_step", 1) for r in runs if r["method"] == method and "curve" in r)
            axis.plot([step * (i + 1) for i in range(length)], mean, label=method)
            unit_name = next(r.get("unit", "queries") for r in runs if "curve" in r)
        axis.set_title(f"lookup noise sd {noise:g}")
        axis.set_xlabel("epochs charged" if unit_name == "epochs" else "queries (full-fidelity lookups)")
        axis.set_ylabel("the pick's score in the table (mean over seeds)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def fidelity_goals(runs, optimum: float) -> str:
    """Issue 22's goal for the default search on the two-fidelity table: regret <= 0.10 at 1,800 epochs."""
    values = figures(runs, "default", 0.0, 1800)
    if not values:
        return ""
    regret = optimum - statistics.fmean(values)
    return (
        "goal for the default search (issue 22, NATS-Bench CIFAR-10, 12 and 200 epochs):\n"
        f"  1800 epochs: regret <= 0.10: {'met' if regret <= 0.10 else 'NOT met'} ({regret:.3f})"
    )


def finish(runs, out: Path, table) -> str:
    ranked = sorted(table.scores.values(), reverse=True)
    text = summarise(runs, ranked[0], ranked[min(9, len(ranked) - 1)])
    name = Path(table.path).name
    goal_text = (goals(runs, ranked[0]) if name == "nats-tss-cifar10.csv"
                 else fidelity_goals(runs, ranked[0]) if name == "nats-tss-cifar10-fidelities.csv" else "")  # fmt: skip
    text += ("\n\n" + goal_text) if goal_text else ""
    (out / "table.txt").write_text(text + "\n")
    plot(runs, out / "anytime.png")
    return text


def load(args):
    """The table of the column picks are judged by (checked with every fidelity's), or a one-line error."""
    space = get_family(FAMILY).space((3, 32, 32), 10, {})
    try:
        fidelity = fidelities(args)
        settings = LookupSettings(
            column=None if fidelity else args.lookup_column, fidelities=fidelity, truth=args.truth_column,
            epochs=fidelity[0][0] if fidelity else 1,
        )  # fmt: skip
        evaluator = LookupEvaluator(args.table, space, settings)
        evaluator.table.check_covers(space)
    except (TableError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    return evaluator.truth_table


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.report:
        folder = Path(args.report)
        runs = read_json_lines(folder / "runs.jsonl")
        if not runs:
            raise SystemExit(f"error: no finished runs in {folder / 'runs.jsonl'}")
        args.table, args.lookup_column = runs[0]["table"], runs[0].get("lookup_column")
        args.fidelity, args.truth_column = runs[0].get("fidelity"), runs[0].get("truth_column")
        print(finish(runs, folder, load(args)))
        return runs
    if not args.table:
        raise SystemExit("error: --table is required: the benchmark's CSV (architecture, score), e.g. NATS-Bench's")
    for name in ("seeds", "population", "epochs", "rerank", "jobs"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if min(budgets(args)) < 1 or min(args.noise) < 0:
        raise SystemExit("error: --queries and --budget-epochs must be positive and --noise at least 0")
    if args.fidelity and args.lookup_column:
        raise SystemExit("error: --fidelity names the score columns: drop --lookup-column")
    methods = list(dict.fromkeys(args.methods))
    for method in methods:
        strategy, _, _ = parse_method(method)
        if strategy not in strategy_names():
            raise SystemExit(f"error: strategy {strategy!r} is not registered in this deap_cnn")
    table = load(args)
    out = Path(args.out or time.strftime("runs/nas-bench-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    runs = [r for r in read_json_lines(log) if r["method"] in methods]
    done = {(r["method"], r["noise"], r["seed"], r["budget"]) for r in runs}
    tasks = tasks_for(args, methods, done)
    print(
        f"{len(table):,} architectures in {args.table} (column {table.column}); methods {', '.join(methods)}; "
        f"{args.seeds} seeds; budgets {budgets(args)} {'epochs' if args.budget_epochs else 'queries'}; "
        f"noise {args.noise}; {len(tasks)} runs to do; out {out}",
        flush=True,
    )
    started = time.perf_counter()
    pool = None
    if args.jobs > 1 and len(tasks) > 1:
        import multiprocessing
        import os

        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")  # each job one thread: the jobs share the cores, not a job's models

        pool = multiprocessing.get_context("spawn").Pool(min(args.jobs, len(tasks)))
        results = pool.imap_unordered(run_one, tasks, chunksize=4)
    else:
        results = map(run_one, tasks)
    try:
        with open(log, "a") as handle:
            for count, run in enumerate(results, start=1):
                run.update(table=str(args.table), lookup_column=args.lookup_column, fidelity=args.fidelity,
                           truth_column=args.truth_column)  # fmt: skip
                runs.append(run)
                handle.write(json.dumps(run) + "\n")
                if count % 100 == 0 or count == len(tasks):
                    print(f"  {count}/{len(tasks)} runs, {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    text = finish(runs, out, table)
    print("\n" + text + f"\n\nwall time {time.perf_counter() - started:.0f} s", flush=True)
    return runs


if __name__ == "__main__":
    main()
