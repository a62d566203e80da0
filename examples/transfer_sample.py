"""Evolve transfer learning over a torchvision backbone on the bundled Fashion-MNIST sample.

A genome is (layers kept from the backbone, layers frozen, learning rate,
dropout); fitness is the negated validation loss. ResNet-18 by default, so
it runs on a CPU in a minute or two; ``--backbone densenet121`` is the
paper's network.

Pretrained weights come from a file you name (``--weights``), from torch's
hub cache, or from torchvision's servers when you allow a download
(``--download``). Without any of them the script says so and stops, unless
``--allow-random`` accepts random initial weights (which is then no longer
*transfer* learning, but shows the machinery working).

    python examples/transfer_sample.py --allow-random
    python examples/transfer_sample.py --download --backbone densenet121
    python examples/transfer_sample.py --weights resnet18.pth
    python -m scoop -n 2 examples/transfer_sample.py --allow-random
"""

from __future__ import annotations

import argparse
import os
import random
import sys

from deap import base, creator, tools

from deap_cnn.algorithms import EvaluationCache, ea_cnn_ga, scoop_map
from deap_cnn.data import DataSource
from deap_cnn.evaluate import Evaluator
from deap_cnn.operators import sel_environmental
from deap_cnn.store import ResultsStore
from deap_cnn.transfer import TransferGenome, cx_two_point, init_transfer_genome, mut_transfer, sel_tournament
from deap_cnn.transfer_network import TransferBuilder, WeightsUnavailableError, transfer_settings

if not hasattr(creator, "TransferFitness"):
    creator.create("TransferFitness", base.Fitness, weights=(1.0,))
if not hasattr(creator, "TransferIndividual"):
    creator.create("TransferIndividual", TransferGenome, fitness=creator.TransferFitness)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18", help="torchvision model: resnet18, densenet121, mobilenet_v3_small, ...")
    parser.add_argument("--weights", default=None, help="a local state_dict file of the backbone")
    parser.add_argument("--download", action="store_true", help="let torchvision download its pretrained weights")
    parser.add_argument("--allow-random", action="store_true", help="accept random initial weights when none can be had")
    parser.add_argument("--resize", type=int, default=None, help="resize images to this size before the backbone")
    parser.add_argument("--population", type=int, default=6)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-batches", type=int, default=20, help="batches per epoch (tiny on purpose)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/transfer-sample")
    args = parser.parse_args(argv)

    source = DataSource("sample")
    builder = TransferBuilder(
        args.backbone, weights_path=args.weights, allow_download=args.download, allow_random=args.allow_random, resize=args.resize
    )
    try:
        space = builder.space((1, 28, 28), 10)
    except WeightsUnavailableError as error:
        sys.exit(f"error: {error}")
    print(
        f"{args.backbone} with {builder.source}: {space.n_layers} layers reachable by {space.input_shape} images; "
        f"lr in {space.lr_range}, dropout in {space.dropout_range}",
        flush=True,
    )
    settings = transfer_settings(epochs=args.epochs, batch_size=args.batch_size, max_batches_per_epoch=args.max_batches, seed=args.seed)
    evaluator = Evaluator(source, space, settings, builder=builder)

    toolbox = base.Toolbox()
    toolbox.register("individual", init_transfer_genome, creator.TransferIndividual, space)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_two_point, space=space)
    toolbox.register("mutate", mut_transfer, space=space)
    toolbox.register("select_mates", sel_tournament, tournsize=2)
    toolbox.register("select", sel_environmental)  # tournaments of two over parents and children, plus elitism
    toolbox.register("evaluate", evaluator.record)
    toolbox.register("map", scoop_map()[0])

    os.makedirs(args.out, exist_ok=True)
    store_path = os.path.join(args.out, "results.sqlite")
    # The evaluator's fingerprint knows the data and the settings, not the backbone: add the builder's.
    fingerprint = f"{evaluator.fingerprint()}-{builder.fingerprint()}"
    random.seed(args.seed)
    population = toolbox.population(n=args.population)
    halloffame = tools.HallOfFame(3)
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("max", max)
    stats.register("mean", lambda values: sum(values) / len(values))
    with ResultsStore(store_path, fingerprint=fingerprint) as store:
        population, _ = ea_cnn_ga(
            population, toolbox, ngen=args.generations, stats=stats, halloffame=halloffame, verbose=True,
            cache=EvaluationCache(store), checkpoint=os.path.join(args.out, "checkpoint.pkl"),
        )
        best = halloffame[0]
        record = store.lookup(str(best))
    print(
        f"best: {best} (validation loss {-best.fitness.values[0]:.4f}, "
        f"accuracy {max(record['val_accuracy']):.4f}); results in {store_path}"
    )


if __name__ == "__main__":
    main()
