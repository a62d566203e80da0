"""Which hyperparameter genes mattered in a run: the store's rows against fitness.

Reads a run's results store (SQLite, :mod:`deap_cnn.runs.store`), parses the
hyperparameter part of each evaluated genome
(``S64-Pmax-S128|lr=0.01,wd=0.0005,...``), and for every gene

- writes ``<gene>.png``: the gene's value against fitness, one point per
  evaluation (log x-axis for the log-scaled genes, categories side by side
  for the choice genes);
- measures how strongly fitness follows it: Spearman's rank correlation for
  ordered genes (learning rate, weight decay, batch size, dropout, kernel
  size), the correlation ratio (eta, from 0 to 1) for unordered ones
  (optimiser, activation).

Torch-free: numpy and matplotlib (Agg) only. From the command line::

    deap-cnn importance runs/hyper-sample      # or: python -m deap_cnn.runs.importance RUN/results.sqlite
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys

import numpy as np

from ..families.base import GenomeError
from ..families.hyper.genes import (
    CHOICE_GENES,
    GENE_NAMES,
    LOG_GENES,
    TEXT_KEYS,
    HyperParams,
)
from .folder import RunFolderError

__all__ = [
    "ImportanceError",
    "UNORDERED_GENES",
    "read_rows",
    "rank",
    "spearman",
    "correlation_ratio",
    "gene_importance",
    "plot_genes",
    "format_table",
    "report",
    "main",
]

#: Choice genes whose values have no order: their effect is measured with the correlation ratio.
UNORDERED_GENES = ("optimizer", "activation")


_LABELS = {
    "lr": "learning rate",
    "weight_decay": "weight decay",
    "batch_size": "batch size",
    "optimizer": "optimiser",
    "dropout": "dropout",
    "activation": "activation",
    "kernel_size": "kernel size",
}


class ImportanceError(RunFolderError, ValueError):
    """The store is missing or holds nothing to plot (no evaluated genome with hyperparameter genes)."""


def read_rows(store_path, fingerprint=None, include_failed=False) -> list[dict]:
    """``{"genome", "fitness", "status", "hyper"}`` for each evaluation whose genome carries hyper genes.

    ``fingerprint`` keeps the rows of one evaluation setting (default: all);
    failed evaluations (which carry the worst fitness, not a measurement)
    are left out unless ``include_failed``.
    """
    if not os.path.exists(store_path):
        raise ImportanceError(f"no results store at {store_path!r}; pass a run's RUN/results.sqlite")
    connection = sqlite3.connect(f"file:{os.path.abspath(store_path)}?mode=ro", uri=True)
    try:
        query = "SELECT genome, fitness, status FROM evaluations"
        arguments = ()
        if fingerprint is not None:
            query += " WHERE fingerprint = ?"
            arguments = (fingerprint,)
        rows = connection.execute(query + " ORDER BY id", arguments).fetchall()
    finally:
        connection.close()
    result = []
    for genome, fitness, status in rows:
        if "|" not in genome or (status != "ok" and not include_failed):
            continue
        values = json.loads(fitness)
        if not values:
            continue
        try:
            hyper = HyperParams.from_string(genome.rpartition("|")[2])
        except GenomeError:  # a family that writes '|' itself (DEvol), without hyper genes
            continue
        result.append({"genome": genome, "fitness": float(values[0]), "status": status, "hyper": hyper})
    return result


def rank(values) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    counts = np.bincount(inverse)
    return sums[inverse] / counts[inverse]


def spearman(x, y) -> float:
    """Spearman's rank correlation of ``x`` and ``y``; NaN when either is constant or fewer than 3 points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    rx, ry = rank(x), rank(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / math.sqrt((rx * rx).sum() * (ry * ry).sum()))


def correlation_ratio(categories, y) -> float:
    """Eta: the share of ``y``'s spread explained by the categories, square-rooted (0 to 1)."""
    categories = list(categories)
    y = np.asarray(y, dtype=float)
    if len(y) < 3 or len(set(categories)) < 2 or np.ptp(y) == 0:
        return math.nan
    total = ((y - y.mean()) ** 2).sum()
    between = 0.0
    for category in set(categories):
        members = y[[c == category for c in categories]]
        between += len(members) * (members.mean() - y.mean()) ** 2
    return float(math.sqrt(between / total))


def gene_importance(rows) -> list[dict]:
    """Per gene: its statistic and value, and the gene's value in the fittest row.

    Each entry: ``gene``, ``n``, ``distinct`` (values seen), ``statistic``
    (``"spearman"`` or ``"eta"``), ``value`` (NaN where it cannot be
    measured), ``best`` (the value in the fittest evaluation) and, for
    choice genes, ``means`` (mean fitness per value).
    """
    fitness = [row["fitness"] for row in rows]
    best_row = max(rows, key=lambda row: row["fitness"]) if rows else None
    table = []
    for gene in GENE_NAMES:
        values = [getattr(row["hyper"], gene) for row in rows]
        entry = {
            "gene": gene,
            "n": len(values),
            "distinct": len(set(values)),
            "best": getattr(best_row["hyper"], gene) if best_row else None,
        }
        if gene in UNORDERED_GENES:
            entry.update(statistic="eta", value=correlation_ratio(values, fitness))
        else:
            entry.update(statistic="spearman", value=spearman(values, fitness))
        if gene in CHOICE_GENES:
            means = {}
            for value in sorted(set(values), key=str):
                members = [f for v, f in zip(values, fitness, strict=True) if v == value]
                means[value] = sum(members) / len(members)
            entry["means"] = means
        table.append(entry)
    return table


def plot_genes(rows, out_dir, fitness_label="fitness") -> dict:
    """Write one ``<gene>.png`` per gene into ``out_dir``; return ``{gene: path}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    fitness = np.array([row["fitness"] for row in rows], dtype=float)
    paths = {}
    for entry in gene_importance(rows):
        gene = entry["gene"]
        values = [getattr(row["hyper"], gene) for row in rows]
        figure, axes = plt.subplots(figsize=(5, 3.6))
        if gene in UNORDERED_GENES:
            labels = sorted(set(values))
            positions = {label: k for k, label in enumerate(labels)}
            # A fixed, small spread so points with one value do not hide each other.
            jitter = (np.arange(len(values)) % 7 - 3) * 0.04
            axes.scatter([positions[v] for v in values] + jitter, fitness, alpha=0.7)
            axes.set_xticks(range(len(labels)), labels)
            axes.set_xlim(-0.5, len(labels) - 0.5)
        else:
            axes.scatter(values, fitness, alpha=0.7)
            if gene in LOG_GENES:
                axes.set_xscale("log")
            elif gene in CHOICE_GENES:
                ticks = sorted(set(values))
                axes.set_xticks(ticks, [str(t) for t in ticks])
        name = "eta" if entry["statistic"] == "eta" else "Spearman rho"
        measured = _format_value(entry, 2)
        axes.set_title(f"{_LABELS[gene]} ({TEXT_KEYS[gene]}): {name} {measured}, n={entry['n']}")
        axes.set_xlabel(_LABELS[gene] + (" (log scale)" if gene in LOG_GENES else ""))
        axes.set_ylabel(fitness_label)
        axes.grid(alpha=0.3)
        figure.tight_layout()
        path = os.path.join(out_dir, f"{gene}.png")
        figure.savefig(path, dpi=90)
        plt.close(figure)
        paths[gene] = path
    return paths


def _format_value(entry, digits) -> str:
    if math.isnan(entry["value"]):
        return "n/a"
    sign = "+" if entry["statistic"] == "spearman" else ""  # eta has no sign
    return f"{entry['value']:{sign}.{digits}f}"


def format_table(table) -> str:
    """The importance table as aligned text, strongest effect first."""

    def strength(entry):
        return -1.0 if math.isnan(entry["value"]) else abs(entry["value"])

    lines = [f"{'gene':<13} {'n':>4} {'values':>6} {'statistic':<9} {'value':>7}  best / mean fitness per value"]
    for entry in sorted(table, key=strength, reverse=True):
        measured = _format_value(entry, 3)
        detail = f"best {entry['best']}"
        if "means" in entry:
            detail += "; " + ", ".join(f"{value}: {mean:.4f}" for value, mean in entry["means"].items())
        lines.append(
            f"{entry['gene']:<13} {entry['n']:>4} {entry['distinct']:>6} {entry['statistic']:<9} {measured:>7}  {detail}"
        )
    return "\n".join(lines)


def report(store_path, out_dir, fingerprint=None, include_failed=False, verbose=True) -> dict:
    """Read the store, write the PNGs, print the table; return ``{"rows", "table", "paths"}``."""
    rows = read_rows(store_path, fingerprint=fingerprint, include_failed=include_failed)
    if not rows:
        raise ImportanceError(
            f"{store_path!r} holds no successful evaluations of genomes with hyperparameter genes "
            "('<architecture>|lr=...'); nothing to plot: run the search with --hyper"
        )
    table = gene_importance(rows)
    paths = plot_genes(rows, out_dir)
    if verbose:
        print(f"hyperparameter genes against fitness, {len(rows)} evaluations:")
        print(format_table(table))
        print(f"plots: {', '.join(sorted(paths.values()))}")
    return {"rows": rows, "table": table, "paths": paths}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Plot each hyperparameter gene of a run against fitness.")
    parser.add_argument("store", help="the run's results.sqlite")
    parser.add_argument("--out", default=None, help="folder for the PNGs (default: <store folder>/genes)")
    parser.add_argument("--fingerprint", default=None, help="only rows of this evaluation fingerprint")
    parser.add_argument("--include-failed", action="store_true", help="keep failed evaluations (worst fitness)")
    args = parser.parse_args(argv)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.store)), "genes")
    return report(args.store, out, fingerprint=args.fingerprint, include_failed=args.include_failed)


if __name__ == "__main__":  # as python -m deap_cnn.runs.report: one line and 1 for a folder problem
    try:
        main()
    except RunFolderError as error:  # ImportanceError among them
        sys.exit(f"error: {error}")
