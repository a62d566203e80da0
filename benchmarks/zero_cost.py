"""Zero-cost proxies of NAS-Bench-201 cells against NASLib's published scores and the cells' trained accuracy.

    python benchmarks/zero_cost.py --table ../shared/nas-bench/nb201-zero-cost-cifar10.csv --out runs/zero-cost
    python benchmarks/zero_cost.py --table T.csv --cells 200 --data-cells 100 --inputs sample --out runs/zc

The table is NASLib's (``architecture``, the 200-epoch validation accuracy
``cifar10_valid_accuracy_200_epochs`` and one column per proxy: ``params``,
``flops``, ``synflow``, ``nwot``, ``jacov``, ``snip``, ``grad_norm``, ...).
Each cell's network is built by the ``nats`` family's builder at the
benchmark's sizes (16 channels, 5 cells per stage, 3x32x32 images, 10
classes; ``--cell-channels`` and ``--cells-per-stage`` change the first two), its weights drawn with ``--seed``, and scored by
:mod:`deap_cnn.training.proxies` plus its parameters and forward FLOPs.
The data-free ones (``synflow``, ``params``, ``flops``) are computed for
``--cells`` cells (default: all), the data-dependent ones (``nwot``,
``jacov``, ``snip``, ``grad_norm``) for the first ``--data-cells`` of them,
on one batch of ``--batch`` images: we have no CIFAR-10 here, so
``--inputs noise`` is seeded Gaussian noise and ``--inputs sample`` the
bundled Fashion-MNIST sample's images padded to 32x32 and repeated over
three channels (neither is what NASLib scored on).

Per proxy it prints the cells scored, the Spearman rank correlation with
NASLib's score of the same proxy (for ``synflow``, ``params`` and ``flops``
the goal is at least 0.9: ``met`` or ``NOT met``), the Spearman and Kendall
correlations with the 200-epoch accuracy (NASLib's own Spearman beside it)
and the seconds per cell. ``<out>/scores.jsonl`` keeps every cell's scores
as they come (a rerun with the same ``--out`` goes on where it stopped) and
``<out>/summary.json`` the table. Needs nothing but the table: no training.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deap_cnn.runs.config import at_least

DATA_FREE = ("synflow", "params", "flops")
DATA_DEPENDENT = ("nwot", "jacov", "snip", "grad_norm")
ACCURACY = "cifar10_valid_accuracy_200_epochs"
GOAL = 0.9
SHAPE, CLASSES = (3, 32, 32), 10


def read_table(path) -> list[dict]:
    """The table's rows: ``architecture`` text and every other column as a float (NaN where empty)."""
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "architecture" not in rows[0]:
        raise SystemExit(f"error: {path}: expected a CSV with an 'architecture' column")
    table = []
    for row in rows:
        values = {"architecture": row["architecture"]}
        for key, text in row.items():
            if key != "architecture":
                try:
                    values[key] = float(text)
                except (TypeError, ValueError):
                    values[key] = math.nan
        table.append(values)
    return table


def make_batch(kind: str, size: int, seed: int):
    """``(inputs, targets)``: seeded noise, or the bundled sample's images as 3x32x32, normalised."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    if kind == "noise":
        return torch.randn((size, *SHAPE), generator=generator), torch.randint(0, CLASSES, (size,), generator=generator)
    from deap_cnn.training.sources import load_data

    data = load_data("sample")
    chosen = torch.randperm(len(data.x_train), generator=generator)[:size]
    images = data.x_train[chosen].float() / 255.0  # (N, 1, 28, 28)
    images = torch.nn.functional.pad(images, (2, 2, 2, 2)).repeat(1, 3, 1, 1)
    images = (images - images.mean()) / images.std().clamp_min(1e-6)
    return images, data.y_train[chosen].long() % CLASSES


def score_cell(space, text, proxies, batch, seed):
    """``{proxy: score}`` and ``{proxy: seconds}`` of one cell (``params`` and ``flops`` counted on the network)."""
    from deap_cnn.training.evaluator import build_model
    from deap_cnn.training.models import count_flops, count_parameters
    from deap_cnn.training.proxies import timed_scores

    genome = space.parse(text)
    started = time.perf_counter()
    network = build_model(genome, SHAPE, CLASSES, seed, space.network_builder)
    built = time.perf_counter() - started
    scores, seconds = {}, {}
    for name, count in (("params", count_parameters), ("flops", lambda net: count_flops(net, SHAPE))):
        if name in proxies:
            started = time.perf_counter()
            scores[name] = float(count(network))
            seconds[name] = time.perf_counter() - started + built
    names = [name for name in proxies if name not in ("params", "flops")]
    if names:
        values, took = timed_scores(network, batch, names)
        scores.update(values)
        seconds.update({name: took[name] + built for name in names})
    return scores, seconds


def load_done(path) -> dict:
    """``architecture -> {"scores": ..., "seconds": ...}`` from an earlier, possibly partial, run."""
    done = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            entry = done.setdefault(row["architecture"], {"scores": {}, "seconds": {}})
            entry["scores"].update(row["scores"])
            entry["seconds"].update(row["seconds"])
    return done


def kendall(x, y) -> float:
    """Kendall's tau-b of ``x`` and ``y`` (ties in either count for neither side); NaN when either is constant."""
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), 1)
    dx, dy = dx[upper], dy[upper]
    pairs_x, pairs_y = np.count_nonzero(dx), np.count_nonzero(dy)
    if not pairs_x or not pairs_y:
        return math.nan
    return float((dx * dy).sum() / math.sqrt(pairs_x * pairs_y))


def correlations(rows, done, name) -> dict:
    """Spearman with NASLib's score of ``name``, Spearman and Kendall with the accuracy, seconds per cell."""
    from deap_cnn.runs.importance import spearman

    cells = [row for row in rows if name in done.get(row["architecture"], {}).get("scores", {})]
    ours = [done[row["architecture"]]["scores"][name] for row in cells]
    entry = {"proxy": name, "cells": len(cells)}
    if len(cells) < 3:
        return entry
    truth = [row[ACCURACY] for row in cells]
    entry["spearman_accuracy"] = spearman(ours, truth)
    entry["kendall_accuracy"] = kendall(ours, truth)
    if name in cells[0] and not any(math.isnan(row[name]) for row in cells):
        theirs = [row[name] for row in cells]
        entry["spearman_naslib"] = spearman(ours, theirs)
        entry["naslib_spearman_accuracy"] = spearman(theirs, truth)
    entry["seconds_per_cell"] = sum(done[row["architecture"]]["seconds"][name] for row in cells) / len(cells)
    if name in DATA_FREE and "spearman_naslib" in entry:
        entry["goal"] = "met" if entry["spearman_naslib"] >= GOAL else "NOT met"
    return entry


def table_text(entries) -> str:
    def number(value, digits=3):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        f"{'proxy':<10} {'cells':>5} {'rho vs NASLib':>13} {'goal >= 0.9':>11} {'rho vs acc':>10} "
        f"{'tau vs acc':>10} {'NASLib rho vs acc':>17} {'s/cell':>7}"
    ]
    for e in entries:
        lines.append(
            f"{e['proxy']:<10} {e['cells']:>5} {number(e.get('spearman_naslib')):>13} {e.get('goal', '-'):>11} "
            f"{number(e.get('spearman_accuracy')):>10} {number(e.get('kendall_accuracy')):>10} "
            f"{number(e.get('naslib_spearman_accuracy')):>17} {number(e.get('seconds_per_cell'), 3):>7}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, help="NASLib's zero-cost table of NAS-Bench-201 cells (CSV)")
    parser.add_argument("--cells", type=at_least(3), default=None, help="cells for the data-free proxies (all)")
    parser.add_argument("--data-cells", type=at_least(0), default=None, help="cells for the others (--cells)")
    parser.add_argument("--proxies", nargs="+", default=list(DATA_FREE + DATA_DEPENDENT),
                        choices=DATA_FREE + DATA_DEPENDENT)  # fmt: skip
    parser.add_argument("--inputs", choices=("noise", "sample"), default="noise", help="the batch's images")
    parser.add_argument("--batch", type=at_least(2), default=64, help="images in the batch")
    parser.add_argument("--cell-channels", type=at_least(1), default=16, help="the network's first stage (16)")
    parser.add_argument("--cells-per-stage", type=at_least(1), default=5, help="cells per stage (5)")
    parser.add_argument("--seed", type=int, default=0, help="weights, batch and subsample")
    parser.add_argument("--threads", type=at_least(1), default=1, help="torch threads")
    parser.add_argument("--out", default="runs/zero-cost", help="folder for scores.jsonl and summary.json")
    args = parser.parse_args(argv)

    import torch

    from deap_cnn.families.nats import NatsSpace

    torch.set_num_threads(args.threads)
    rows = read_table(args.table)
    if ACCURACY not in rows[0]:
        raise SystemExit(f"error: {args.table}: no {ACCURACY} column")
    random.Random(args.seed).shuffle(rows)
    rows = rows[: args.cells] if args.cells else rows
    data_cells = len(rows) if args.data_cells is None else min(args.data_cells, len(rows))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scores_path = out / "scores.jsonl"
    done = load_done(scores_path)
    space = NatsSpace(SHAPE, CLASSES, cell_channels=args.cell_channels, cells_per_stage=args.cells_per_stage)
    batch = make_batch(args.inputs, args.batch, args.seed)
    started = time.perf_counter()
    with open(scores_path, "a", encoding="utf-8") as handle:
        for position, row in enumerate(rows):
            text = row["architecture"]
            wanted = [p for p in args.proxies if p in DATA_FREE or position < data_cells]
            missing = [p for p in wanted if p not in done.get(text, {}).get("scores", {})]
            if not missing:
                continue
            scores, seconds = score_cell(space, text, missing, batch, args.seed)
            handle.write(json.dumps({"architecture": text, "scores": scores, "seconds": seconds}) + "\n")
            handle.flush()
            entry = done.setdefault(text, {"scores": {}, "seconds": {}})
            entry["scores"].update(scores)
            entry["seconds"].update(seconds)
            if (position + 1) % 50 == 0:
                print(f"{position + 1}/{len(rows)} cells, {time.perf_counter() - started:.0f} s", flush=True)
    entries = [correlations(rows, done, name) for name in args.proxies]
    text = table_text(entries)
    print(text)
    summary = {"table": os.path.abspath(args.table), "inputs": args.inputs, "batch": args.batch, "seed": args.seed,
               "cell_channels": args.cell_channels, "cells_per_stage": args.cells_per_stage, "cells": len(rows),
               "data_cells": data_cells, "proxies": entries}  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "table.txt").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
