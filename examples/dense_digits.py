"""Fully connected networks on scikit-learn's digits, with every network's growth records kept.

    python examples/dense_digits.py --out runs/dense     # again with the same --out: continues it
    python -m scoop -n 2 examples/dense_digits.py        # evaluations on two SCOOP workers

DeepLearnGene's recipe (the ``dense`` family: hidden-layer genomes, parents
from the best 20% plus a random 10%), composed in your own code to show one
extension: an evaluation cache that also appends each newly trained
network's growth record (per-epoch and per-batch losses and times) to
growth.jsonl as it comes back. Every network trains under a wall-clock limit.
"""

import argparse
import json
import os

from deap_cnn.families import get_family
from deap_cnn.runs.cli import run_guarded
from deap_cnn.runs.config import at_least
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.evaluation import scoop_map
from deap_cnn.search.strategies import Budget, SearchContext, get_strategy
from deap_cnn.training.evaluator import Evaluator
from deap_cnn.training.settings import TrainSettings
from deap_cnn.training.sources import DataSource

GROWTH_FIELDS = ("epochs", "seconds", "val_accuracy", "train_loss", "epoch_seconds", "batch_loss", "batch_seconds")
SETTINGS = TrainSettings(epochs=12, batch_size=32, val_fraction=0.25, record_batches=True, time_budget=0.6)


class GrowthLog(EvaluationCache):
    """The evaluation cache, also appending each new record's growth fields to a JSON-lines file."""

    def __init__(self, store, path):
        super().__init__(store)
        self.path = path

    def put(self, key, record, generation=None, worker=None):
        super().put(key, record, generation=generation, worker=worker)
        entry = {"genome": key, "generation": generation, **{name: record.get(name) for name in GROWTH_FIELDS}}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(entry) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/dense-digits")
    parser.add_argument("--population", type=at_least(1), default=10)
    parser.add_argument("--generations", type=at_least(0), default=5)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    growth = os.path.join(args.out, "growth.jsonl")

    dense = get_family("dense")
    data = DataSource("digits")
    space = dense.space((64,), 10, {"max_layers": 3, "units": (16, 32, 64, 128)})
    # One torch thread per process: these networks are tiny, and threads only contend for the cores.
    evaluator = Evaluator(data, space, SETTINGS, device="cpu", threads=1)
    with ResultsStore(os.path.join(args.out, "results.sqlite"), fingerprint=evaluator.fingerprint()) as store:
        outcome = get_strategy("ga").run(
            dense,
            space,
            evaluator.record,
            Budget(args.population, args.generations),
            SearchContext(
                store=store,
                checkpoint=os.path.join(args.out, "checkpoint.pkl"),
                cache=GrowthLog(store, growth),
                map_function=scoop_map()[0],
                seed=0,
                cxpb=0.5,
                mutpb=0.5,
                verbose=True,
            ),
        )
    with open(growth) as handle:
        records = [json.loads(line) for line in handle]
    stopped = sum(r["epochs"] < SETTINGS.epochs for r in records)
    best = outcome.best[0]
    grown = next(r for r in records if r["genome"] == str(best))
    print(f"{len(records)} networks grown ({stopped} stopped early by the {SETTINGS.time_budget} s limit); {growth}")
    print(f"best genome: {best}  validation accuracy {best.fitness.values[0]:.4f}")
    print(
        f"  {grown['epochs']} epochs of {len(grown['batch_loss'][0])} batches; training loss per epoch "
        + " ".join(f"{loss:.3f}" for loss in grown["train_loss"])
    )


if __name__ == "__main__":
    run_guarded(main)  # one-line errors and the right exit status, also under python -m scoop
