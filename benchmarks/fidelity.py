"""How well do short trainings rank architectures? Kendall's tau of cheap fitness against long trainings.

    python benchmarks/fidelity.py                        # defaults: 16 genomes, 6,000 Fashion-MNIST images, ~45 min on 2 cores
    python benchmarks/fidelity.py --out runs/fidelity    # resume a partial run: finished trainings are not repeated
    python benchmarks/fidelity.py --report runs/fidelity # only print the table of what a (partial) run holds
    python benchmarks/fidelity.py --quick                # a 2-minute smoke run (tiny networks, few images)

A search is only as good as its cheap fitness. This draws ``--genomes``
random genomes of the quickstart space (``--widths 16 32 64 --max-skip-units
4``) and trains each

* once long, the **reference**: ``--reference-epochs`` epochs (onecycle,
  batch 128) on a larger validation split (``--reference-val-fraction``,
  default 0.2), scored by the mean validation accuracy of the last
  ``--reference-last`` epochs, which averages out much of one accuracy's
  noise; its training seed differs from the short trainings' so that a
  shared initialisation cannot inflate the agreement;
* then short, once per **variant** (a few epochs, batch size, schedule,
  label smoothing, validation fraction) and per training seed (``--seeds``).

A variant's record is scored three ways without training again: the best,
the last and the mean of the last two epochs' validation accuracy. For each
(variant, fitness) it prints Kendall's tau against the reference (mean ± sd
over the seeds), the tau between two seeds (how reproducible the ranking is),
the compute per candidate (forward multiply-adds per image x training images
x epochs, and seconds) and tau per second of training.

The variants are chosen, not crossed: epochs 1/2/3 at the current default
(batch 128, onecycle) show what epochs buy; batch 32 and 64 at one and two
epochs give more steps for the same images (DEvol's batch 32 ranked well at
one epoch); cosine (no warm-up) and label smoothing 0.1 at two epochs test
the schedule and loss; a 0.2 validation fraction at two epochs tests whether a validation set
twice as large (its standard error divided by 1.4) is worth 11% fewer
training images.

Every training is appended as one JSON line to ``<out>/trainings.jsonl`` as it
finishes, so an interrupted run still reports (``--report``) and resumes. A
helper process may share ``--out`` with ``--skip-reference`` and other
``--variants`` (the references are then the first process's), or with the
same variants and ``--reverse`` (they meet in the middle): each skips what
the other has finished.
The table is also written to ``<out>/table.txt``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from records import mean_sd, read_json_lines
from scipy.stats import kendalltau
from subsets import fashion_mnist_subset

from deap_cnn import Genome, SearchSpace
from deap_cnn.families.cnn_ga.operators import random_genome

REFERENCE = "reference"
REFERENCE_SEED = 1000  # apart from the short trainings' seeds 0, 1, ...


@dataclass(frozen=True)
class Variant:
    """One short-training setting."""

    name: str
    epochs: int
    batch_size: int = 128
    schedule: str = "onecycle"
    label_smoothing: float = 0.0
    val_fraction: float = 0.1

    def settings(self, seed: int, max_batches):
        from deap_cnn.training.settings import TrainSettings

        return TrainSettings(
            epochs=self.epochs,
            batch_size=self.batch_size,
            schedule=self.schedule,
            label_smoothing=self.label_smoothing,
            val_fraction=self.val_fraction,
            seed=seed,
            max_batches_per_epoch=max_batches,
        )


VARIANTS = {
    variant.name: variant
    for variant in (
        Variant("e1-b128", 1),
        Variant("e2-b128", 2),
        Variant("e3-b128", 3),
        Variant("e1-b64", 1, batch_size=64),
        Variant("e1-b32", 1, batch_size=32),
        Variant("e2-b64", 2, batch_size=64),
        Variant("e2-b128-cosine", 2, schedule="cosine"),
        Variant("e2-b128-ls0.1", 2, label_smoothing=0.1),
        Variant("e2-b128-val0.2", 2, val_fraction=0.2),
    )
}
QUICK_VARIANTS = ("e1-b128", "e2-b64")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--train-size",
        type=int,
        default=6000,
        help="Fashion-MNIST training images (stratified subset; 0: all)",
    )
    add("--data-seed", type=int, default=0, help="seed of the subset")
    add("--genomes", type=int, default=16, help="random genomes to rank")
    add("--genome-seed", type=int, default=0)
    add("--widths", type=int, nargs="+", default=[16, 32, 64])
    add("--max-skip-units", type=int, default=4)
    add("--reference-epochs", type=int, default=10)
    add(
        "--reference-last",
        type=int,
        default=3,
        help="the reference averages the last K epochs' validation accuracy",
    )
    add("--reference-val-fraction", type=float, default=0.2)
    add("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
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
    add("--seeds", type=int, default=2, help="training seeds 0..N-1 per short variant")
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
        help="smoke run: 1,000 images, 6 tiny genomes, 2 variants",
    )
    return parser


def apply_quick(args):
    args.train_size, args.genomes, args.widths, args.max_skip_units = 1000, 6, [4, 8], 3
    args.reference_epochs, args.reference_last, args.variants, args.max_batches = (
        3,
        2,
        list(QUICK_VARIANTS),
        4,
    )


def draw_genomes(space, count: int, seed: int) -> list[str]:
    """``count`` distinct random genomes (canonical text), seeded."""
    rng, found = random.Random(seed), []
    for _ in range(1000 * count):
        text = str(Genome(random_genome(space, rng)))
        if text not in found:
            found.append(text)
        if len(found) == count:
            return found
    raise SystemExit(f"error: the space holds fewer than {count} distinct genomes; lower --genomes")


def read_trainings(path: Path) -> list[dict]:
    """Every finished training in ``path``."""
    return read_json_lines(path)


def train(genome, source, space, settings, device, threads) -> dict:
    """One training as a JSON-ready dict: per-epoch validation accuracy, compute and seconds."""
    from deap_cnn.training.evaluator import Evaluator
    from deap_cnn.training.sources import load_data

    record = Evaluator(source, space, settings, device=device, threads=threads).record(genome)
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
        # forward multiply-adds of one image (count_flops counts two FLOPs each) x images trained on
        "compute": record.flops / 2 * images * record.epochs,
        "seconds": record.seconds,
    }


def fitness_values(row: dict, kind: str) -> float:
    accuracy = row["val_accuracy"]
    if row["status"] != "ok" or not accuracy:
        return 0.0
    if kind == "best":
        return max(accuracy)
    if kind == "last":
        return accuracy[-1]
    k = int(kind.removeprefix("mean"))
    return statistics.fmean(accuracy[-k:])


def tau(a: dict, b: dict) -> float:
    """Kendall's tau (b) over the genomes both dicts score; nan under 3 or if either is constant."""
    shared = sorted(set(a) & set(b))
    if len(shared) < 3:
        return math.nan
    value = kendalltau([a[g] for g in shared], [b[g] for g in shared]).statistic
    return float(value)


def report(rows: list[dict], reference_last: int) -> tuple[str, list[dict]]:
    """The table (text) and its rows (dicts) for the trainings in ``rows``."""
    reference_rows = [r for r in rows if r["variant"] == REFERENCE]
    reference = {r["genome"]: fitness_values(r, f"mean{reference_last}") for r in reference_rows}
    lines = []
    if reference_rows:
        val_images = reference_rows[0]["val_images"]
        accuracy = statistics.fmean(reference.values())
        lines.append(
            f"reference: {len(reference)} genomes, {reference_rows[0]['epochs']} epochs, mean of the last "
            f"{reference_last} validation accuracies on {val_images} images (mean {accuracy:.3f}, "
            f"range {min(reference.values()):.3f}-{max(reference.values()):.3f}; one accuracy's standard error "
            f"{math.sqrt(accuracy * (1 - accuracy) / val_images):.3f}); "
            f"{statistics.fmean(r['seconds'] for r in reference_rows):.1f} s per genome"
        )
    header = (
        f"{'variant':<16} {'fitness':<7} {'n':>3} {'tau vs reference':<16} {'tau seed/seed':>13} "
        f"{'val SE':>6} {'GMAC·img':>9} {'seconds':>7} {'tau/s':>6}"
    )
    lines += [header, "-" * len(header)]
    table = []
    names = list(dict.fromkeys(r["variant"] for r in rows if r["variant"] != REFERENCE))
    for name in names:
        group = [r for r in rows if r["variant"] == name]
        seeds = sorted({r["seed"] for r in group})
        epochs = max(r["epochs"] for r in group)
        kinds = ["last"] if epochs == 1 else ["best", "last", "mean2"]
        compute = statistics.fmean(r["compute"] for r in group) / 1e9
        seconds = statistics.fmean(r["seconds"] for r in group)
        val_images = group[0]["val_images"]
        for kind in kinds:
            by_seed = {s: {r["genome"]: fitness_values(r, kind) for r in group if r["seed"] == s} for s in seeds}
            taus = [tau(by_seed[s], reference) for s in seeds]
            pairs = [tau(by_seed[a], by_seed[b]) for a, b in itertools.combinations(seeds, 2)]
            scores = [v for s in seeds for v in by_seed[s].values()]
            accuracy = statistics.fmean(scores) if scores else 0.0
            standard_error = math.sqrt(max(accuracy * (1 - accuracy), 0) / val_images)
            finite = [t for t in taus if not math.isnan(t)]
            mean_tau = statistics.fmean(finite) if finite else math.nan
            shared = len(set(reference) & set(by_seed[seeds[0]]))
            table.append(
                {
                    "variant": name,
                    "fitness": kind,
                    "genomes": shared,
                    "taus": taus,
                    "tau": mean_tau,
                    "seed_tau": statistics.fmean(pairs) if pairs else math.nan,
                    "compute_gmac_images": compute,
                    "seconds": seconds,
                    "tau_per_second": mean_tau / seconds if seconds else math.nan,
                }
            )
            seed_tau = table[-1]["seed_tau"]
            lines.append(
                f"{name:<16} {kind:<7} {shared:>3} {mean_sd(taus, 2):<16} "
                f"{'n/a' if math.isnan(seed_tau) else f'{seed_tau:.2f}':>13} {standard_error:>6.3f} "
                f"{compute:>9.1f} {seconds:>7.1f} {table[-1]['tau_per_second']:>6.3f}"
            )
    return "\n".join(lines), table


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.report:
        folder = Path(args.report)
        text, _ = report(read_trainings(folder / "trainings.jsonl"), args.reference_last)
        print(text)
        return
    if args.quick:
        apply_quick(args)
    for name in ("genomes", "seeds", "reference_epochs", "reference_last", "threads"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.reference_last > args.reference_epochs:
        raise SystemExit("error: --reference-last cannot exceed --reference-epochs")
    out = Path(args.out or time.strftime("runs/fidelity-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    log = out / "trainings.jsonl"
    source = fashion_mnist_subset(args.train_size, args.data_seed)
    from deap_cnn.training.sources import load_data

    dataset = load_data(source)
    space = SearchSpace(
        input_shape=dataset.input_shape,
        n_classes=dataset.n_classes,
        widths=tuple(args.widths),
        max_skip_units=args.max_skip_units,
    )
    genomes = draw_genomes(space, args.genomes, args.genome_seed)
    from deap_cnn.training.settings import TrainSettings

    max_batches = args.max_batches or None
    reference_settings = TrainSettings(
        epochs=args.reference_epochs,
        val_fraction=args.reference_val_fraction,
        seed=REFERENCE_SEED,
        max_batches_per_epoch=max_batches,
    )
    plan = []  # genome-major, so that a partial run ranks its first genomes on every variant
    for genome in reversed(genomes) if args.reverse else genomes:
        if not args.skip_reference:
            plan.append((REFERENCE, REFERENCE_SEED, genome, reference_settings))
        for name in args.variants:
            for seed in range(args.seeds):
                plan.append((name, seed, genome, VARIANTS[name].settings(seed, max_batches)))
    done = {(r["variant"], r["seed"], r["genome"]) for r in read_trainings(log)}
    print(
        f"fidelity on {dataset.name}: {len(dataset.x_train)} training images; {len(genomes)} genomes of widths "
        f"{tuple(args.widths)}, up to {args.max_skip_units} skip units; reference {args.reference_epochs} epochs "
        f"(val fraction {args.reference_val_fraction}); variants {', '.join(args.variants)} x {args.seeds} seeds; "
        f"{len(plan) - len(done & {p[:3] for p in plan})} trainings to go; out {out}",
        flush=True,
    )
    started = time.perf_counter()
    for index, (name, seed, genome, settings) in enumerate(plan, 1):
        if (name, seed, genome) in done:
            continue
        done = {(r["variant"], r["seed"], r["genome"]) for r in read_trainings(log)}
        if (name, seed, genome) in done:
            continue  # another process sharing --out trained it meanwhile
        row = {
            "variant": name,
            "seed": seed,
            **train(genome, source, space, settings, args.device, args.threads),
        }
        with open(log, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(
            f"  [{index}/{len(plan)}] {name:<16} seed {seed:<4} {genome:<40} val {(row['val_accuracy'] or [0.0])[-1]:.3f} {row['status']} "
            f"{row['seconds']:.1f} s ({time.perf_counter() - started:.0f} s so far)",
            flush=True,
        )
    text, table = report(read_trainings(log), args.reference_last)
    print("\n" + text, flush=True)
    (out / "table.txt").write_text(text + "\n")
    (out / "table.json").write_text(json.dumps(table, indent=2))
    return table


if __name__ == "__main__":
    main()
