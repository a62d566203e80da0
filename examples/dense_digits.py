"""Evolve fully connected networks on scikit-learn's bundled digits (no download), well under a minute on 2 cores.

    python examples/dense_digits.py                      # a new run folder under runs/
    python examples/dense_digits.py --out DIR --resume   # continue a run after its last generation
    python -m scoop -n 2 examples/dense_digits.py        # evaluations on two SCOOP workers

DeepLearnGene's recipe in DEAP: genomes of hidden layer widths, activations
and dropout rates; parents drawn from the best 20% plus a random 10% of the
population (sel_best_plus_random); every network trained with a wall-clock
limit (training stops after the epoch that crosses it) and its growth
records kept: per-epoch and per-batch training losses and times, appended
to growth.jsonl in the run folder as each network comes back. The loop is
CNN-GA's (deap_cnn.algorithms.ea_cnn_ga) with its evaluation cache, SQLite
results store and checkpoint. Needs scikit-learn (`pip install scikit-learn`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

from deap import base, creator, tools

from deap_cnn.algorithms import EvaluationCache, ea_cnn_ga, scoop_map, start_or_resume
from deap_cnn.data import DataSource
from deap_cnn.dense import DenseGenome, DenseSpace, cx_dense, init_dense, mut_dense, sel_best_plus_random
from deap_cnn.dense_network import build_dense_network
from deap_cnn.evaluate import Evaluator, TrainSettings, train_and_test
from deap_cnn.store import ResultsStore

# At module level, so that SCOOP workers can unpickle individuals.
if not hasattr(creator, "DenseExampleFitness"):
    creator.create("DenseExampleFitness", base.Fitness, weights=(1.0,))
    creator.create("DenseExampleIndividual", DenseGenome, fitness=creator.DenseExampleFitness)

DATA = DataSource("digits")  # 1438 training and 359 test vectors of 64 features, 10 classes
SPACE = DenseSpace(
    input_shape=(64,),
    n_classes=10,
    min_layers=1,
    max_layers=4,
    units=(16, 32, 64, 128, 256),
    activations=("relu", "tanh", "sigmoid", "elu"),
    dropouts=(0.0, 0.1, 0.2, 0.4),
)
#: Up to 12 epochs, but no network trains past the epoch that crosses 0.6 s; a quarter of the
#: training vectors held out for the fitness (a tenth, 143 vectors, is too few to tell networks apart).
SETTINGS = TrainSettings(epochs=12, batch_size=32, val_fraction=0.25, record_batches=True, time_budget=0.6)

GROWTH_FIELDS = (
    "epochs",
    "seconds",
    "val_accuracy",
    "val_loss",
    "train_loss",
    "epoch_seconds",
    "batch_loss",
    "batch_seconds",
)


class GrowthLog(EvaluationCache):
    """The evaluation cache, also appending each newly trained network's growth record to a JSON-lines file.

    The results store keeps the per-epoch validation curves; the per-batch
    records are kept here.
    """

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
    parser.add_argument("--out", default=time.strftime("runs/dense-%Y%m%d-%H%M%S"))
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "checkpoint.pkl")
    growth = os.path.join(args.out, "growth.jsonl")

    # One torch thread per process: these networks are tiny, and threads only contend for the cores.
    evaluator = Evaluator(DATA, SPACE, SETTINGS, device="cpu", threads=1, builder=build_dense_network)
    toolbox = base.Toolbox()
    toolbox.register("individual", init_dense, creator.DenseExampleIndividual, SPACE)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_dense, space=SPACE)
    toolbox.register("mutate", mut_dense, space=SPACE)
    toolbox.register("select_mates", sel_best_plus_random, best_fraction=0.2, random_fraction=0.1)
    toolbox.register("select", tools.selBest)
    toolbox.register("evaluate", evaluator.record)  # records carry the growth curves back
    toolbox.register("map", scoop_map()[0])

    population, halloffame, logbook, start_gen = start_or_resume(
        toolbox, args.population, checkpoint, args.resume, seed=args.seed, halloffame_size=3
    )
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("max", max)
    stats.register("mean", lambda values: round(sum(values) / len(values), 4))

    with ResultsStore(os.path.join(args.out, "results.sqlite"), fingerprint=evaluator.fingerprint()) as store:
        population, logbook = ea_cnn_ga(
            population,
            toolbox,
            cxpb=0.5,
            mutpb=0.5,
            ngen=args.generations,
            stats=stats,
            halloffame=halloffame,
            cache=GrowthLog(store, growth),
            checkpoint=checkpoint,
            start_gen=start_gen,
            logbook=logbook,
        )
    with open(growth) as handle:
        records = [json.loads(line) for line in handle]
    stopped = sum(r["epochs"] < SETTINGS.epochs for r in records)
    best = halloffame[0]
    grown = next(r for r in records if r["genome"] == str(best))
    print(
        f"{len(records)} networks grown ({stopped} stopped early by the {SETTINGS.time_budget} s limit); "
        f"growth records in {growth}"
    )
    print(f"best genome: {best}  validation accuracy {best.fitness.values[0]:.4f}")
    print(
        f"  {grown['epochs']} epochs of {len(grown['batch_loss'][0])} batches; training loss per epoch "
        + " ".join(f"{loss:.3f}" for loss in grown["train_loss"])
    )
    final_settings = replace(SETTINGS, record_batches=False, time_budget=None)
    final = train_and_test(DenseGenome(best), DATA, SPACE, final_settings, device="cpu", builder=build_dense_network)
    print(
        f"retrained on the whole training set for {final['epochs']} epochs: test accuracy {final['test_accuracy']:.4f}"
    )


if __name__ == "__main__":
    main()
