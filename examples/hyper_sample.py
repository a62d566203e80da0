"""Hyperparameter genes on CNN-GA from Python, then which genes mattered.

    python examples/hyper_sample.py --out runs/hyper      # the same as the two commands below
    deap-cnn search --family cnn-ga --hyper --data sample --out runs/hyper ...
    deap-cnn importance runs/hyper

Every individual is a CNN-GA architecture plus seven genes (learning rate,
weight decay, batch size, optimiser, dropout, activation, kernel size),
evolved together; the run's store is then read to plot each gene against
fitness (one PNG per gene) and rank the genes.
"""

import argparse
import os

from deap_cnn.runs.cli import run_guarded
from deap_cnn.runs.config import SearchConfig, at_least
from deap_cnn.runs.importance import report
from deap_cnn.runs.runner import run_search


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/hyper-sample")
    parser.add_argument("--population", type=at_least(1), default=8)
    parser.add_argument("--generations", type=at_least(0), default=3)
    parser.add_argument("--epochs", type=at_least(1), default=1)
    parser.add_argument("--max-batches", type=at_least(1), default=20, help="batches per epoch (tiny on purpose)")
    args = parser.parse_args()
    config = SearchConfig(
        family="cnn-ga",
        hyper=True,
        data="sample",
        widths=(8, 16),
        max_skip_units=3,
        population=args.population,
        generations=args.generations,
        epochs=args.epochs,
        max_batches=args.max_batches,
        final_epochs=0,
        out=args.out,
    )
    resume = os.path.exists(os.path.join(args.out, "config.json"))  # the same --out again continues the run
    summary = run_search(config, resume=resume)
    report(os.path.join(args.out, "results.sqlite"), os.path.join(args.out, "genes"))
    print(f"best: {summary['genome']} ({summary['validation_fitness']:.4f})")


if __name__ == "__main__":
    run_guarded(main)  # one-line errors and the right exit status, also under python -m scoop
