"""CNN-GA with hyperparameter genes on the bundled Fashion-MNIST sample, then which genes mattered.

Every individual is a CNN-GA architecture plus seven genes (learning rate,
weight decay, batch size, optimiser, dropout, activation, kernel size), all
evolved together through ``ea_cnn_ga``; every evaluation lands in a SQLite
results store, and the store's rows are plotted against fitness at the end
(one PNG per gene). Tiny settings: about a minute on a 2-core CPU.

    python examples/hyper_sample.py                  # serially
    python -m scoop -n 2 examples/hyper_sample.py    # two SCOOP workers
    python examples/hyper_sample.py --resume         # continue the run in --out
"""

from __future__ import annotations

import argparse
import os
import sys

from deap import base, creator, tools

from deap_cnn import SearchSpace, cx_one_point, mut_cnn_ga, sel_environmental
from deap_cnn.algorithms import EvaluationCache, ea_cnn_ga, scoop_map, start_or_resume
from deap_cnn.data import DataSource
from deap_cnn.evaluate import Evaluator, TrainSettings
from deap_cnn.hyper_network import build_hyper_network
from deap_cnn.hyperparameters import HyperCnnGenome, HyperSearchSpace, HyperSpace, cx_arch_hyper, init_arch_hyper, mut_arch_hyper
from deap_cnn.importance import report
from deap_cnn.store import ResultsStore

# At module level, so that SCOOP workers can unpickle the individuals.
if not hasattr(creator, "HyperFitness"):
    creator.create("HyperFitness", base.Fitness, weights=(1.0,))
if not hasattr(creator, "HyperIndividual"):
    creator.create("HyperIndividual", HyperCnnGenome, fitness=creator.HyperFitness)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per candidate")
    parser.add_argument("--max-batches", type=int, default=20, help="batches per epoch (tiny on purpose)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/hyper-sample")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    args = parser.parse_args(argv)

    source = DataSource("sample")
    space = HyperSearchSpace(
        SearchSpace(input_shape=(1, 28, 28), n_classes=10, widths=(8, 16), max_skip_units=3),
        HyperSpace(lr_range=(1e-3, 0.1), batch_sizes=(32, 64, 128), kernel_sizes=(3, 5)),
    )
    settings = TrainSettings(epochs=args.epochs, max_batches_per_epoch=args.max_batches, seed=args.seed)
    evaluator = Evaluator(source, space, settings, builder=build_hyper_network)

    toolbox = base.Toolbox()
    toolbox.register("individual", init_arch_hyper, creator.HyperIndividual, space)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_arch_hyper, space=space, arch_mate=cx_one_point)
    toolbox.register("mutate", mut_arch_hyper, space=space, arch_mutate=mut_cnn_ga)
    toolbox.register("select", sel_environmental)
    toolbox.register("evaluate", evaluator.record)
    toolbox.register("map", scoop_map()[0])

    os.makedirs(args.out, exist_ok=True)
    store_path = os.path.join(args.out, "results.sqlite")
    checkpoint = os.path.join(args.out, "checkpoint.pkl")
    if args.resume:
        if not os.path.exists(checkpoint):
            sys.exit(f"error: nothing to resume in {args.out}; drop --resume to start a run")
    elif os.path.exists(store_path):
        sys.exit(f"error: {args.out} already holds a run; pass --resume or choose another --out")
    population, halloffame, logbook, start_gen = start_or_resume(
        toolbox, args.population, checkpoint, args.resume, seed=args.seed, halloffame_size=3
    )

    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("max", max)
    stats.register("mean", lambda values: sum(values) / len(values))
    with ResultsStore(store_path, fingerprint=evaluator.fingerprint()) as store:
        population, logbook = ea_cnn_ga(
            population, toolbox, ngen=args.generations, stats=stats, halloffame=halloffame, verbose=True,
            cache=EvaluationCache(store), checkpoint=checkpoint, start_gen=start_gen, logbook=logbook,
        )
    best = halloffame[0]
    print(f"best: {best} (validation accuracy {best.fitness.values[0]:.4f})")
    print(f"it trains with {best.training_overrides()} and builds with {best.network_options()}")
    report(store_path, os.path.join(args.out, "genes"), fingerprint=evaluator.fingerprint())


if __name__ == "__main__":
    main()
