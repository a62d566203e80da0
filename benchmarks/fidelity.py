"""Which cheap fitness ranks like the long training? Kendall's tau and top-10% overlap of cheap evaluators on real trainings.

    python benchmarks/fidelity.py                        # 20 cnn-ga genomes, search_quality's setting on 10,000 images
    python benchmarks/fidelity.py --train-size 2000 --batch-size 128 --lr 0.1 --reference-epochs 10  # the hard setting
    python benchmarks/fidelity.py --data digits --batch-size 128 --lr 0.1 --reference-epochs 10     # 8x8 digits
    python benchmarks/fidelity.py --out runs/fidelity    # resume a partial run: finished trainings are not repeated
    python benchmarks/fidelity.py --report runs/fidelity # only print the table of what a (partial) run holds
    python benchmarks/fidelity.py --quick                # a 2-minute smoke run (tiny networks, few images)

A search is only as good as its cheap fitness, and a short training is
*biased*, not only noisy: it favours networks that learn fast over networks
that end best. This draws ``--genomes`` random genomes of a family
(``--family``: cnn-ga, devol, or any registered image family) on
``--data`` (a seeded, class-balanced Fashion-MNIST subset of
``--train-size`` images, scikit-learn's digits as 8x8 images, or the bundled
sample) and trains each

* once long, the **reference**: what ``benchmarks/search_quality.py``
  retrains its picks with (``train_and_test``: ``--reference-epochs``,
  default 6 as its ``--final-epochs``, on the whole training set, at the
  same batch size, learning rate and schedule as the candidates) and
  scored by its test accuracy (10,000 images on Fashion-MNIST). Its
  training seed differs from the cheap trainings' so that a shared
  initialisation cannot inflate the agreement;
* then with each **cheap evaluator**: a search's own candidate training for
  ``k`` epochs, for each ``k`` in ``--epochs`` (default 1 2 3 4: the
  schedule spans the k epochs, as ``search_quality.py --epochs k`` trains
  candidates), once per training seed (``--seeds``), scored by its best and
  its last epoch's validation accuracy (``--val-fraction`` of the training
  set); the size of the network (forward multiply-adds, larger ranks
  higher: a free baseline); and zero-cost proxies, when
  ``deap_cnn.training.proxies`` is installed (see :func:`proxy_scores`; it
  is skipped with a note when it is not), each alone and each *plus one
  epoch* (the mean of its rank and the 1-epoch accuracy's rank).

For every cheap evaluator it prints Kendall's tau against the reference
(mean ± sd over the seeds, where there are several), the **top-10% overlap** (the fraction of the
reference's best ``ceil(0.1 N)`` genomes, at least 2, that the cheap
evaluator also puts in its best ``ceil(0.1 N)``), the tau between two seeds
(how reproducible its ranking is) and its cost per candidate (forward
multiply-adds per image x training images x epochs, and seconds).

The setting (``--train-size --widths --max-skip-units --batch-size --lr
--reference-epochs``) is printed as the flags ``search_quality.py`` takes
for the same trainings. Every training is appended as one JSON line to
``<out>/trainings.jsonl`` as it finishes, so an interrupted run still reports
(``--report``) and resumes; a helper process may share ``--out`` with
``--reverse`` (the two meet in the middle) or with ``--skip-reference``.
The table is also written to ``<out>/table.txt`` and ``<out>/table.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from records import mean_sd, read_json_lines
from scipy.stats import kendalltau
from subsets import digits_images, fashion_mnist_subset

from deap_cnn.families import get_family
from deap_cnn.training.devices import LOCAL_WORKERS_ENV, available_cpus

REFERENCE = "reference"
REFERENCE_SEED = 1000  # apart from the cheap trainings' seeds 0, 1, ...
SIZE = "size"  # the free baseline: forward multiply-adds, larger ranks higher
PROXY_PREFIX = "proxy:"
PROXIES_MODULE = "deap_cnn.training.proxies"
TOP_FRACTION = 0.1
DATA = ("fashion-mnist", "digits", "sample")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--data", choices=DATA, default="fashion-mnist", help="fashion-mnist (Debian's), digits (8x8) or sample")
    add(
        "--train-size",
        type=int,
        default=10000,
        help="fashion-mnist: training images (stratified subset; 0: all)",
    )
    add("--data-seed", type=int, default=0, help="seed of the subset")
    add("--family", default="cnn-ga", help="genome family: cnn-ga, devol, ...")
    add("--genomes", type=int, default=20, help="random genomes to rank")
    add("--genome-seed", type=int, default=0)
    add("--widths", type=int, nargs="+", default=[8, 16, 32], help="cnn-ga widths, devol feature maps")
    add("--max-skip-units", type=int, default=4, help="cnn-ga")
    add("--max-layers", type=int, default=None, help="devol: convolutional layers (default the family's)")
    add("--batch-size", type=int, default=32, help="of every training (search_quality's default)")
    add("--lr", type=float, default=0.05, help="peak learning rate of every training")
    add("--schedule", default="onecycle", help="learning-rate schedule of every training")
    add("--val-fraction", type=float, default=0.1, help="validation split of the cheap trainings")
    add("--epochs", type=int, nargs="+", default=[1, 2, 3, 4], help="the cheap trainings' lengths")
    add(
        "--reference-epochs",
        type=int,
        default=6,
        help="the reference: epochs of the retraining on the whole training set (search_quality's --final-epochs)",
    )
    add(
        "--reference-seeds",
        type=int,
        default=1,
        help="references per genome: a second seed measures how well the reference ranks itself (the ceiling)",
    )
    add("--proxies", nargs="*", default=None, help="zero-cost proxies to score (default: all the module offers)")
    add(
        "--skip-reference",
        action="store_true",
        help="train no reference (a helper process sharing --out)",
    )
    add(
        "--reverse",
        action="store_true",
        help="go through the genomes last first (a helper meeting the main process)",
    )
    add("--seeds", type=int, default=1, help="training seeds 0..N-1 per cheap training")
    add(
        "--max-batches",
        type=int,
        default=0,
        help="cap on batches per epoch (0: none; tests only)",
    )
    add(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: measured 2-7x faster than 2 on shared cores)",
    )
    add("--device", default="cpu")
    add(
        "--out",
        default=None,
        help="folder of trainings.jsonl and table.txt (default runs/fidelity-<time>)",
    )
    add(
        "--report",
        default=None,
        metavar="FOLDER",
        help="print the table of FOLDER's trainings and stop",
    )
    add(
        "--quick",
        action="store_true",
        help="smoke run: 1,000 images, 6 tiny genomes, 1 and 2 epochs",
    )
    return parser


def apply_quick(args):
    args.genomes, args.widths, args.max_skip_units, args.max_batches = 6, [4, 8], 3, 4
    args.reference_epochs, args.epochs, args.batch_size = 2, [1, 2], 64
    if args.data == "fashion-mnist":
        args.train_size = 1000


def data_source(args):
    if args.data == "digits":
        return digits_images()
    if args.data == "sample":
        from deap_cnn.training.sources import DataSource

        return DataSource("sample")
    return fashion_mnist_subset(args.train_size, args.data_seed)


def search_quality_flags(args) -> str:
    """The same trainings as flags of ``benchmarks/search_quality.py`` (candidates of ``k`` epochs: ``--epochs k``)."""
    flags = [
        f"--train-size {args.train_size}" if args.data == "fashion-mnist" else f"(data {args.data})",
        "--widths " + " ".join(str(w) for w in args.widths),
        f"--max-skip-units {args.max_skip_units}",
        f"--batch-size {args.batch_size}",
        f"--lr {args.lr:g}",
        f"--final-epochs {args.reference_epochs}",
    ]
    return " ".join(flags)


def cli_flags(args, source) -> str:
    """The same trainings as flags of ``deap-cnn search`` (its ``--data`` takes the subset's cached .npz)."""
    return (
        f"--family {args.family} --data {source.name} --widths {' '.join(str(w) for w in args.widths)} "
        f"--max-skip-units {args.max_skip_units} --batch-size {args.batch_size} --lr {args.lr:g} "
        f"--final-epochs {args.reference_epochs}"
    )


def make_space(family, dataset, args):
    options = {"widths": list(args.widths), "max_skip_units": args.max_skip_units}
    if args.max_layers:
        options["max_layers"] = args.max_layers
    return family.space(dataset.input_shape, dataset.n_classes, options), options


def draw_genomes(family, space, count: int, seed: int) -> list[str]:
    """``count`` distinct random genomes (canonical text), seeded."""
    rng, found = random.Random(seed), []
    for _ in range(1000 * count):
        text = str(family.random_individual(family.genome_class, space, rng))
        if text not in found:
            found.append(text)
        if len(found) == count:
            return found
    raise SystemExit(f"error: the space holds fewer than {count} distinct genomes; lower --genomes")


def read_trainings(path: Path) -> list[dict]:
    """Every finished training in ``path``."""
    return read_json_lines(path)


def train(genome, source, space, settings, device, threads, builder) -> dict:
    """One cheap training as a JSON-ready dict: per-epoch validation accuracy, compute and seconds."""
    from deap_cnn.training.evaluator import Evaluator
    from deap_cnn.training.sources import load_data

    evaluator = Evaluator(source, space, settings, device=device, threads=threads, builder=builder)
    record = evaluator.record(genome)
    train_idx, val_idx = load_data(source).split(settings.val_fraction, settings.split_seed)
    images = len(train_idx)
    if settings.max_batches_per_epoch:
        images = min(images, settings.max_batches_per_epoch * settings.batch_size)
    return {
        "genome": str(genome),
        "status": record.status,
        "val_accuracy": record.val_accuracy,
        "val_images": len(val_idx),
        "epochs": record.epochs,
        "flops": record.flops,
        "parameters": record.parameters,
        # forward multiply-adds of one image (count_flops counts two FLOPs each) x images trained on
        "compute": record.flops / 2 * images * record.epochs,
        "seconds": record.seconds,
    }


def train_reference(genome, source, space, settings, device, builder) -> dict:
    """The retraining search_quality gives its picks: the whole training set, then the test set once."""
    from deap_cnn.training.final import train_and_test
    from deap_cnn.training.sources import load_data

    dataset = load_data(source)
    started = time.perf_counter()
    try:
        done = train_and_test(space.parse(genome), source, space, settings, device, builder)
    except (RuntimeError, ValueError) as error:  # a failed training (out of memory, ...) ranks last, as in a search
        return {"genome": str(genome), "status": "error", "error": str(error)[:300], "test_accuracy": 0.0,
                "test_images": len(dataset.x_test), "epochs": 0, "compute": 0.0,
                "seconds": time.perf_counter() - started}  # fmt: skip
    images = len(dataset.x_train)
    if settings.max_batches_per_epoch:
        images = min(images, settings.max_batches_per_epoch * settings.batch_size)
    accuracy = done["test_accuracy"]
    return {
        "genome": str(genome),
        "status": "ok" if math.isfinite(accuracy) else "nan",
        "test_accuracy": accuracy if math.isfinite(accuracy) else 0.0,
        "test_images": len(dataset.x_test),
        "train_loss": done["train_loss"],
        "epochs": done["epochs"],
        "flops": done["flops"],
        "parameters": done["parameters"],
        "compute": done["flops"] / 2 * images * done["epochs"],
        "seconds": done["seconds"],
    }


def proxies_module():
    """``deap_cnn.training.proxies``, or ``None`` with the reason when it is not installed."""
    try:
        return importlib.import_module(PROXIES_MODULE), ""
    except ImportError as error:
        return None, f"zero-cost proxies skipped: {PROXIES_MODULE} is not installed here ({error})"


def proxy_scores(module, names, genome, source, space, settings, device, builder) -> dict:
    """``{name: (score, seconds)}`` of each proxy of ``genome``'s untrained network (higher ranks higher).

    Scored by :class:`~deap_cnn.training.proxy_evaluator.ProxyEvaluator` on a batch of the run's training
    images, with the candidates' training seed as the initialisation's; a score that is not finite ranks last.
    """
    from deap_cnn.training.proxy_evaluator import ProxyEvaluator, ProxySettings

    scores = {}
    for name in names:
        evaluator = ProxyEvaluator(source, space, ProxySettings(proxies=(name,), seed=settings.seed),
                                   device=device, builder=builder)  # fmt: skip
        record = evaluator.record(space.parse(genome) if isinstance(genome, str) else genome)
        value = record.fitness[0] if record.status == "ok" else -math.inf
        scores[name] = (value if math.isfinite(value) else -math.inf, record.seconds)
    return scores


def fitness_value(row: dict, kind: str) -> float:
    """A row's fitness: ``best``/``last``/``meanK`` validation accuracy, ``test`` accuracy or a ``score``."""
    if kind == "score":
        return row["score"]
    if row["status"] != "ok":
        return 0.0
    if kind == "test":
        return row["test_accuracy"]
    accuracy = row["val_accuracy"]
    if not accuracy:
        return 0.0
    if kind == "best":
        return max(accuracy)
    if kind == "last":
        return accuracy[-1]
    k = int(kind.removeprefix("mean"))
    return statistics.fmean(accuracy[-k:])


fitness_values = fitness_value  # the name the first version of this script used


def tau(a: dict, b: dict) -> float:
    """Kendall's tau (b) over the genomes both dicts score; nan under 3 or if either is constant."""
    shared = sorted(set(a) & set(b))
    if len(shared) < 3:
        return math.nan
    value = kendalltau([a[g] for g in shared], [b[g] for g in shared]).statistic
    return float(value)


def top_count(n: int, fraction: float = TOP_FRACTION) -> int:
    """How many genomes make the top ``fraction`` of ``n``: ``ceil(fraction n)``, at least 2."""
    return max(2, math.ceil(fraction * n - 1e-9))


def top_overlap(cheap: dict, reference: dict, fraction: float = TOP_FRACTION) -> float:
    """The fraction of the reference's top genomes that ``cheap`` also ranks in its top (ties: by genome text)."""
    shared = sorted(set(cheap) & set(reference))
    count = top_count(len(shared), fraction)
    if len(shared) <= count:
        return math.nan
    best_cheap = set(sorted(shared, key=lambda g: (-cheap[g], g))[:count])
    best_reference = set(sorted(shared, key=lambda g: (-reference[g], g))[:count])
    return len(best_cheap & best_reference) / count


def ranks(values: dict) -> dict:
    """Average ranks (1 = lowest) of a dict's values."""
    order = sorted(values, key=values.get)
    result, i = {}, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for g in order[i : j + 1]:
            result[g] = (i + j) / 2 + 1
        i = j + 1
    return result


def combine(first: dict, second: dict) -> dict:
    """The mean rank of the two scores, over the genomes both have."""
    shared = set(first) & set(second)
    a, b = ranks({g: first[g] for g in shared}), ranks({g: second[g] for g in shared})
    return {g: (a[g] + b[g]) / 2 for g in shared}


def reference_scores(rows: list[dict], reference_last: int = 3) -> tuple[dict, list[dict]]:
    """genome -> the reference's fitness: test accuracy (or, in a first-version run, the last epochs' mean)."""
    reference_rows = [r for r in rows if r["variant"] == REFERENCE and r["seed"] == REFERENCE_SEED]
    scores = {}
    for row in reference_rows:
        kind = "test" if "test_accuracy" in row else f"mean{reference_last}"
        scores[row["genome"]] = fitness_value(row, kind)
    return scores, reference_rows


def cheap_columns(rows: list[dict]) -> list[dict]:
    """Every cheap evaluator as {name, fitness, by_seed: {seed: {genome: value}}, compute, seconds}."""
    columns = []
    trained = [r for r in rows if r["variant"] != REFERENCE and not r["variant"].startswith(PROXY_PREFIX)]
    names = list(dict.fromkeys(r["variant"] for r in trained))
    names.sort(key=lambda n: (not n.startswith("e"), n))
    again = [r for r in rows if r["variant"] == REFERENCE and r["seed"] != REFERENCE_SEED]
    if again:  # the reference retrained with other seeds: how well it ranks itself, the ceiling of any evaluator
        columns.append(
            {
                "variant": "reference, other seed",
                "fitness": "test",
                "by_seed": {
                    s: {r["genome"]: fitness_value(r, "test") for r in again if r["seed"] == s}
                    for s in sorted({r["seed"] for r in again})
                },
                "compute": statistics.fmean(r["compute"] for r in again),
                "seconds": statistics.fmean(r["seconds"] for r in again),
            }
        )
    for name in names:
        group = [r for r in trained if r["variant"] == name]
        seeds = sorted({r["seed"] for r in group})
        epochs = max(r["epochs"] for r in group)
        for kind in ["last"] if epochs == 1 else ["best", "last"]:
            columns.append(
                {
                    "variant": name,
                    "fitness": kind,
                    "by_seed": {
                        s: {r["genome"]: fitness_value(r, kind) for r in group if r["seed"] == s} for s in seeds
                    },
                    "compute": statistics.fmean(r["compute"] for r in group),
                    "seconds": statistics.fmean(r["seconds"] for r in group),
                    "val_images": group[0]["val_images"],
                }
            )
    one_epoch = next((c for c in columns if c["variant"] == "e1"), None)
    sized = {r["genome"]: r["flops"] for r in rows if "flops" in r and r.get("status") == "ok"}
    if sized:
        columns.append({"variant": SIZE, "fitness": "MACs", "by_seed": {0: sized}, "compute": 0.0, "seconds": 0.0})
    proxy_rows = [r for r in rows if r["variant"].startswith(PROXY_PREFIX)]
    for name in dict.fromkeys(r["variant"] for r in proxy_rows):
        group = [r for r in proxy_rows if r["variant"] == name]
        by_seed = {
            s: {r["genome"]: r["score"] for r in group if r["seed"] == s} for s in sorted({r["seed"] for r in group})
        }
        seconds = statistics.fmean(r["seconds"] for r in group)
        columns.append({"variant": name, "fitness": "score", "by_seed": by_seed, "compute": 0.0, "seconds": seconds})
        if one_epoch is not None:
            combined = {s: combine(by_seed[s], one_epoch["by_seed"][s]) for s in by_seed if s in one_epoch["by_seed"]}
            if combined:
                columns.append(
                    {
                        "variant": f"{name}+e1",
                        "fitness": "rank mean",
                        "by_seed": combined,
                        "compute": one_epoch["compute"],
                        "seconds": seconds + one_epoch["seconds"],
                    }
                )
    return columns


def spread(values) -> str:
    """``"mean ± sd"`` over seeds, or the one value alone."""
    finite = [v for v in values if not math.isnan(v)]
    return f"{finite[0]:.2f}" if len(finite) == 1 else mean_sd(values, 2)


def report(rows: list[dict], reference_last: int = 3, notes=()) -> tuple[str, list[dict]]:
    """The table (text) and its rows (dicts) for the trainings in ``rows``."""
    reference, reference_rows = reference_scores(rows, reference_last)
    lines = list(notes)
    if reference_rows:
        first = reference_rows[0]
        values = list(reference.values())
        accuracy = statistics.fmean(values)
        if "test_accuracy" in first:
            images, what = first["test_images"], "test accuracy after retraining on the whole training set"
        else:
            images, what = first["val_images"], f"mean of the last {reference_last} validation accuracies"
        failed = sum(r["status"] != "ok" for r in reference_rows)
        lines.append(
            f"reference: {len(reference)} genomes, {first['epochs']} epochs, {what} on {images} images (mean "
            f"{accuracy:.3f}, range {min(values):.3f}-{max(values):.3f}, {failed} failed; one accuracy's standard "
            f"error {math.sqrt(max(accuracy * (1 - accuracy), 0) / images):.3f}); "
            f"{statistics.fmean(r['compute'] for r in reference_rows) / 1e9:.1f} GMAC·img and "
            f"{statistics.fmean(r['seconds'] for r in reference_rows):.1f} s per genome"
        )
    n_top = top_count(len(reference))
    header = (
        f"{'evaluator':<22} {'fitness':<9} {'n':>3} {'tau vs reference':<16} {f'top-{n_top} overlap':<14} "
        f"{'tau seed/seed':>13} {'GMAC·img':>9} {'seconds':>7}"
    )
    lines += [header, "-" * len(header)]
    table = []
    for column in cheap_columns(rows):
        by_seed = column["by_seed"]
        seeds = sorted(by_seed)
        taus = [tau(by_seed[s], reference) for s in seeds]
        overlaps = [top_overlap(by_seed[s], reference) for s in seeds]
        pairs = [tau(by_seed[a], by_seed[b]) for a, b in itertools.combinations(seeds, 2)]
        finite = [t for t in taus if not math.isnan(t)]
        finite_overlaps = [o for o in overlaps if not math.isnan(o)]
        shared = len(set(reference) & set(by_seed[seeds[0]]))
        row = {
            "variant": column["variant"],
            "fitness": column["fitness"],
            "genomes": shared,
            "taus": taus,
            "tau": statistics.fmean(finite) if finite else math.nan,
            "top_overlaps": overlaps,
            "top_overlap": statistics.fmean(finite_overlaps) if finite_overlaps else math.nan,
            "top_count": top_count(shared),
            "seed_tau": statistics.fmean(pairs) if pairs else math.nan,
            "compute_gmac_images": column["compute"] / 1e9,
            "seconds": column["seconds"],
        }
        table.append(row)
        seed_tau = row["seed_tau"]
        lines.append(
            f"{row['variant']:<22} {row['fitness']:<9} {shared:>3} {spread(taus):<16} {spread(overlaps):<14} "
            f"{'n/a' if math.isnan(seed_tau) else f'{seed_tau:.2f}':>13} {row['compute_gmac_images']:>9.3g} "
            f"{row['seconds']:>7.1f}"
        )
    return "\n".join(lines), table


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.report:
        folder = Path(args.report)
        text, _ = report(read_trainings(folder / "trainings.jsonl"))
        print(text)
        return
    if args.quick:
        apply_quick(args)
    for name in ("genomes", "seeds", "reference_epochs", "reference_seeds", "threads", "batch_size"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if min(args.epochs) < 1:
        raise SystemExit(f"error: --epochs must be at least 1, got {args.epochs}")
    family = get_family(args.family)
    out = Path(args.out or time.strftime("runs/fidelity-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    log = out / "trainings.jsonl"
    source = data_source(args)
    from deap_cnn.training.settings import TrainSettings
    from deap_cnn.training.sources import load_data

    dataset = load_data(source)
    space, options = make_space(family, dataset, args)
    builder = family.network_builder(space, options)
    genomes = draw_genomes(family, space, args.genomes, args.genome_seed)
    max_batches = args.max_batches or None
    settings = TrainSettings(
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        val_fraction=args.val_fraction,
        max_batches_per_epoch=max_batches,
    )
    reference_settings = dataclasses.replace(settings, epochs=args.reference_epochs, seed=REFERENCE_SEED)
    # train_and_test takes its torch threads from here (default_threads): --threads, as the cheap trainings
    os.environ.setdefault(LOCAL_WORKERS_ENV, str(max(1, available_cpus() // args.threads)))
    module, note = proxies_module()
    notes = [note] if note else []
    names = []
    if module is not None:
        names = list(args.proxies if args.proxies is not None else getattr(module, "PROXIES", ()))
    plan = []  # genome-major, so that a partial run ranks its first genomes on every evaluator
    for genome in reversed(genomes) if args.reverse else genomes:
        if not args.skip_reference:
            for seed in range(REFERENCE_SEED, REFERENCE_SEED + args.reference_seeds):
                plan.append((REFERENCE, seed, genome, dataclasses.replace(reference_settings, seed=seed)))
        for epochs in args.epochs:
            for seed in range(args.seeds):
                plan.append((f"e{epochs}", seed, genome, dataclasses.replace(settings, epochs=epochs, seed=seed)))
        for name in names:
            for seed in range(args.seeds):
                plan.append((PROXY_PREFIX + name, seed, genome, dataclasses.replace(settings, seed=seed)))
    done = {(r["variant"], r["seed"], r["genome"]) for r in read_trainings(log)}
    print(
        f"fidelity of {args.family} on {dataset.name}: {len(dataset.x_train)} training images; {len(genomes)} "
        f"genomes of widths {tuple(args.widths)}; batch {args.batch_size}, lr {args.lr:g}, {args.schedule}; "
        f"reference {args.reference_epochs} epochs (test accuracy); cheap: epochs {args.epochs} x {args.seeds} "
        f"seeds{', proxies ' + ', '.join(names) if names else ''}; "
        f"{len(plan) - len(done & {p[:3] for p in plan})} trainings to go; out {out}\n"
        f"as search_quality.py flags: {search_quality_flags(args)}\n"
        f"as deap-cnn search flags: {cli_flags(args, source)}",
        flush=True,
    )
    for line in notes:
        print(f"  {line}", flush=True)
    started = time.perf_counter()
    for index, (name, seed, genome, run_settings) in enumerate(plan, 1):
        if (name, seed, genome) in done:
            continue
        done = {(r["variant"], r["seed"], r["genome"]) for r in read_trainings(log)}
        if (name, seed, genome) in done:
            continue  # another process sharing --out trained it meanwhile
        if name == REFERENCE:
            row = train_reference(genome, source, space, run_settings, args.device, builder)
            shown = row["test_accuracy"]
        elif name.startswith(PROXY_PREFIX):
            if not names:
                continue  # the proxies module turned out to have another API
            proxy = name.removeprefix(PROXY_PREFIX)
            try:
                value, seconds = proxy_scores(
                    module, [proxy], genome, source, space, run_settings, args.device, builder
                )[proxy]
            except (AttributeError, TypeError) as error:
                notes.append(f"zero-cost proxies skipped: {PROXIES_MODULE} has another API than assumed ({error})")
                print(f"  {notes[-1]}", flush=True)
                names = []
                continue
            row = {"genome": genome, "status": "ok", "score": value, "compute": 0.0, "seconds": seconds}
            shown = value
        else:
            row = train(genome, source, space, run_settings, args.device, args.threads, builder)
            shown = (row["val_accuracy"] or [0.0])[-1]
        row = {"variant": name, "seed": seed, **row}
        with open(log, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(
            f"  [{index}/{len(plan)}] {name:<12} seed {seed:<4} {genome:<48} {shown:.3f} {row['status']} "
            f"{row['seconds']:.1f} s ({time.perf_counter() - started:.0f} s so far)",
            flush=True,
        )
    text, table = report(read_trainings(log), notes=notes)
    print("\n" + text, flush=True)
    (out / "table.txt").write_text(text + "\n")
    (out / "table.json").write_text(json.dumps(table, indent=2))
    return table


if __name__ == "__main__":
    main()
