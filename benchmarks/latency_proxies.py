"""How far FLOPs and parameters track measured latency: rank correlation over random genomes, on this CPU.

Builds ``--genomes`` random genomes of each family (untrained networks: the
weights' values do not change the time of a dense forward pass) on the
sample's 1x28x28 inputs, counts their parameters and FLOPs, and measures
each one's inference latency with :func:`deap_cnn.training.latency.measure_latency`
at each ``--batches`` size. Prints Spearman's rank correlation of FLOPs and
of parameters with the measured latency, per family and batch size: 1.0
would make a FLOPs objective as good as a measured one for ranking.

    python benchmarks/latency_proxies.py [--families cnn-ga devol] [--genomes 50] [--batches 1 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import random

import torch
from scipy.stats import spearmanr

from deap_cnn.families import get_family
from deap_cnn.runs.cli import run_guarded
from deap_cnn.training.evaluator import resolve_builder
from deap_cnn.training.latency import measure_latency
from deap_cnn.training.models import count_flops, count_parameters

#: The sample preset's spaces (benchmarks/sample.py for cnn-ga; DEvol's own defaults).
OPTIONS = {"cnn-ga": {"widths": (16, 32, 64), "max_skip_units": 4}, "devol": {}}

SHAPE, CLASSES = (1, 28, 28), 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(OPTIONS), choices=list(OPTIONS))
    parser.add_argument("--genomes", type=int, default=50, help="random genomes per family")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="batch sizes to time")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1: steadiest on a shared machine)")
    parser.add_argument("--min-run-time", type=float, default=0.2, help="seconds of timed repeats per network")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    print(
        f"{args.genomes} random genomes per family, {SHAPE} inputs, {args.threads} thread(s), torch {torch.__version__}"
    )
    for name in args.families:
        family = get_family(name)
        space = family.space(SHAPE, CLASSES, OPTIONS[name])
        builder = resolve_builder(space, family.network_builder(space, OPTIONS[name]))
        rows = []
        for _ in range(args.genomes):
            model = builder(family.init(family.genome_class, space), SHAPE, CLASSES).eval()
            latency = [measure_latency(model, SHAPE, b, "cpu", min_run_time=args.min_run_time) for b in args.batches]
            rows.append((count_flops(model, SHAPE), count_parameters(model), latency))
        for position, batch in enumerate(args.batches):
            times = [row[2][position] for row in rows]
            flops = spearmanr([row[0] for row in rows], times).statistic
            params = spearmanr([row[1] for row in rows], times).statistic
            print(
                f"{name:7s} batch {batch:3d}: Spearman FLOPs-latency {flops:+.2f}, parameters-latency {params:+.2f} "
                f"(latency {min(times):.3g} to {max(times):.3g} ms)"
            )


if __name__ == "__main__":
    run_guarded(main)
