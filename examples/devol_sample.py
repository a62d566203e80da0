"""A DEvol-style search on the bundled Fashion-MNIST sample (no download), about a minute on 2 cores.

    python examples/devol_sample.py                      # a new run folder under runs/
    python examples/devol_sample.py --out DIR --resume   # continue a run after its last generation
    python -m scoop -n 2 examples/devol_sample.py        # evaluations on two SCOOP workers

Fixed-width genomes of up to 3 convolutional and 2 dense layers plus an
optimiser gene (DevolSpace, DEvol's GenomeHandler), one-point crossover and
per-gene mutation, CNN-GA's loop (binary-tournament mates, elitist
environmental selection) with its evaluation cache, SQLite results store
and checkpoint after every generation. The fitness is DEvol's hook as the
search's one objective: a function of the last epoch's validation accuracy
and loss.
"""

from __future__ import annotations

import argparse
import os
import time

from deap import base, creator, tools

from deap_cnn import sel_binary_tournament, sel_environmental
from deap_cnn.families.devol.fitness import devol_objective
from deap_cnn.families.devol.genome import DevolGenome
from deap_cnn.families.devol.network import build_devol_network
from deap_cnn.families.devol.operators import cx_devol, init_devol, mut_devol
from deap_cnn.families.devol.space import DevolSpace
from deap_cnn.runs.checkpoint import start_or_resume
from deap_cnn.runs.cli import run_guarded
from deap_cnn.runs.config import at_least
from deap_cnn.runs.store import ResultsStore
from deap_cnn.search.cache import EvaluationCache
from deap_cnn.search.evaluation import scoop_map
from deap_cnn.search.ga import ea_cnn_ga
from deap_cnn.search.objectives import Objectives
from deap_cnn.training.evaluator import Evaluator
from deap_cnn.training.settings import TrainSettings
from deap_cnn.training.sources import DataSource

# At module level, so that SCOOP workers can unpickle individuals.
if not hasattr(creator, "DevolExampleFitness"):
    creator.create("DevolExampleFitness", base.Fitness, weights=(1.0,))
    creator.create("DevolExampleIndividual", DevolGenome, fitness=creator.DevolExampleFitness)

SPACE = DevolSpace(
    input_shape=(1, 28, 28),
    n_classes=10,
    max_conv_layers=3,
    max_dense_layers=2,
    feature_maps=(8, 16),
    units=(32, 64),
    activations=("relu", "elu", "sigmoid"),
    optimizers=("sgd", "adam", "rmsprop"),
)
SETTINGS = TrainSettings(epochs=3, batch_size=64, max_batches_per_epoch=25)


def accuracy_minus_loss(accuracy, loss):
    """The fitness hook: accuracy, with a little credit for confident (low-loss) predictions."""
    return accuracy - 0.1 * loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=time.strftime("runs/devol-%Y%m%d-%H%M%S"))
    parser.add_argument("--population", type=at_least(1), default=8)
    parser.add_argument("--generations", type=at_least(0), default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "checkpoint.pkl")

    # One torch thread per process: networks this small gain little from more, and lose much when
    # the cores are shared; `python -m scoop -n 2` puts both cores to work instead.
    evaluator = Evaluator(DataSource("sample"), SPACE, SETTINGS, device="cpu", threads=1, builder=build_devol_network)
    fitness = Objectives(devol_objective(accuracy_minus_loss)).wrap(evaluator)  # maximised, as the fitness type
    toolbox = base.Toolbox()
    toolbox.register("individual", init_devol, creator.DevolExampleIndividual, SPACE)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_devol, space=SPACE)
    toolbox.register("mutate", mut_devol, space=SPACE)
    toolbox.register("select_mates", sel_binary_tournament)
    toolbox.register("select", sel_environmental)
    toolbox.register("evaluate", fitness.record)  # records carry the curves to the store
    toolbox.register("map", scoop_map()[0])

    population, halloffame, logbook, start_gen = start_or_resume(
        toolbox, args.population, checkpoint, args.resume, seed=args.seed, halloffame_size=3
    )
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("max", max)
    stats.register("mean", lambda values: round(sum(values) / len(values), 4))

    with ResultsStore(os.path.join(args.out, "results.sqlite"), fingerprint=fitness.fingerprint()) as store:
        population, logbook = ea_cnn_ga(
            population,
            toolbox,
            ngen=args.generations,
            stats=stats,
            halloffame=halloffame,
            cache=EvaluationCache(store),
            checkpoint=checkpoint,
            start_gen=start_gen,
            logbook=logbook,
        )
        trained = len(store)
    best = halloffame[0]
    print(f"{trained} networks trained; results in {args.out}")
    print(f"best genome:  {best}")
    print(f"its network:  {best.architecture()}")
    print(f"fitness (accuracy - 0.1 * loss): {best.fitness.values[0]:.4f}")


if __name__ == "__main__":
    run_guarded(main)  # one-line errors and the right exit status, also under python -m scoop
