"""A whole CNN-GA search in a run folder: compose, evaluate, checkpoint, resume, report.

This is what the benchmark scripts run (``python -m scoop benchmarks/cifar10.py``).
A run folder holds:

- ``config.json``: the run's settings (a resume reads them back);
- ``results.sqlite``: one row per evaluation (:mod:`deap_cnn.store`);
- ``checkpoint.pkl``: the state after the last finished generation (a pickle:
  load only your own);
- ``logbook.csv`` and ``fitness.png``: best and mean fitness per generation;
- ``best.json`` and ``best.pt``: the best architecture (genome, shapes, test
  accuracy) and its retrained weights; :func:`deap_cnn.network.load_network`
  reads them back into a module.

The DEAP types below are created when this module is imported, so every
process that imports it (SCOOP workers too) can unpickle them.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass

from deap import base, creator, tools

from .algorithms import EvaluationCache, ea_cnn_ga, scoop_map, start_or_resume
from .engines import LostWorkerError
from .genome import Genome
from .operators import cx_one_point, init_genome, mut_cnn_ga, sel_binary_tournament, sel_environmental
from .space import SearchSpace
from .store import ResultsStore

__all__ = ["SearchConfig", "make_toolbox", "run_search", "main", "RunFolderError"]

if not hasattr(creator, "CnnGaFitness"):
    creator.create("CnnGaFitness", base.Fitness, weights=(1.0,))
if not hasattr(creator, "CnnGaIndividual"):
    creator.create("CnnGaIndividual", Genome, fitness=creator.CnnGaFitness)


class RunFolderError(RuntimeError):
    """The run folder does not fit the request (a run is there already, or none is)."""


def make_toolbox(space, evaluate, map_function=map, individual=None) -> base.Toolbox:
    """A toolbox with CNN-GA's published operators, ready for :func:`~deap_cnn.algorithms.ea_cnn_ga`.

    ``individual`` is the DEAP individual type (default ``creator.CnnGaIndividual``).
    """
    toolbox = base.Toolbox()
    toolbox.register("individual", init_genome, individual or creator.CnnGaIndividual, space)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", cx_one_point, space=space)
    toolbox.register("mutate", mut_cnn_ga, space=space)
    toolbox.register("select_mates", sel_binary_tournament)
    toolbox.register("select", sel_environmental)
    toolbox.register("evaluate", evaluate)
    toolbox.register("map", map_function)
    toolbox.register("cost", space.cost)
    return toolbox


@dataclass
class SearchConfig:
    """Settings of a search; the defaults are CNN-GA's published ones where it has them."""

    data: str = "sample"
    data_dir: str | None = None
    download: bool = False
    population: int = 20
    generations: int = 20
    cxpb: float = 0.9
    mutpb: float = 0.2
    widths: tuple = (64, 128, 256)
    max_skip_units: int = 10
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    time_budget: float | None = None
    max_batches: int | None = None
    augment: str = "auto"
    final_epochs: int = 30
    seed: int = 0
    out: str = "runs/cnn-ga"
    device: str | None = None
    cpu_amp: bool | str = "auto"

    def train_settings(self, epochs=None):
        from .evaluate import TrainSettings

        return TrainSettings(
            epochs=self.epochs if epochs is None else epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            time_budget=self.time_budget,
            max_batches_per_epoch=self.max_batches,
            augment=self.augment,
            seed=self.seed,
            cpu_amp=self.cpu_amp,
        )


def _stats():
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    for name, function in (("max", max), ("min", min)):
        stats.register(name, function)
    stats.register("mean", lambda values: sum(values) / len(values))
    return stats


def _save_logbook(logbook, path):
    columns = [c for c in logbook.header if c in logbook[0]] if len(logbook) else []
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(logbook)


def _plot_fitness(logbook, path):
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    generations = logbook.select("gen")
    axes.plot(generations, logbook.select("max"), marker="o", label="best")
    axes.plot(generations, logbook.select("mean"), marker=".", label="mean")
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set_xlabel("generation")
    axes.set_ylabel("fitness (validation accuracy)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run_search(config: SearchConfig, resume=False, map_function=None, verbose=True) -> dict:
    """Run (or resume) a search as ``config`` says; return a summary dict (also saved as ``best.json``)."""
    from .data import DataSource, load_data
    from .evaluate import Evaluator, train_and_test
    from .network import save_network

    os.makedirs(config.out, exist_ok=True)
    paths = {name: os.path.join(config.out, name) for name in ("config.json", "results.sqlite", "checkpoint.pkl")}
    if resume:
        if not os.path.exists(paths["config.json"]):
            raise RunFolderError(f"nothing to resume in {config.out}: it holds no config.json; drop --resume to start")
        with open(paths["config.json"]) as handle:
            saved = json.load(handle)
        generations = config.generations
        config = SearchConfig(**{**saved, "widths": tuple(saved["widths"])})
        config.generations = max(generations, config.generations)
    elif os.path.exists(paths["checkpoint.pkl"]) or os.path.exists(paths["results.sqlite"]):
        raise RunFolderError(
            f"{config.out} already holds a run: pass --resume to continue it, or choose another --out"
        )
    with open(paths["config.json"], "w") as handle:
        json.dump(dataclasses.asdict(config), handle, indent=2)

    if map_function is None:
        map_function, workers = scoop_map()
    else:
        workers = 1
    source = DataSource(config.data, root=config.data_dir, download=config.download)
    dataset = load_data(source)
    space = SearchSpace(
        input_shape=dataset.input_shape,
        n_classes=dataset.n_classes,
        widths=tuple(config.widths),
        max_skip_units=config.max_skip_units,
    )
    evaluator = Evaluator(source, space, config.train_settings(), device=config.device)
    store = ResultsStore(paths["results.sqlite"], fingerprint=evaluator.fingerprint())
    store.set_settings({**dataclasses.asdict(config), "fingerprint": evaluator.fingerprint()})
    toolbox = make_toolbox(space, evaluator.record, map_function)
    if verbose:
        print(
            f"CNN-GA on {dataset.name}: {len(dataset.x_train)} training images {dataset.input_shape}, "
            f"{dataset.n_classes} classes; population {config.population}, {config.generations} generations, "
            f"{config.epochs} epochs per candidate, {workers} worker(s); run folder {config.out}",
            flush=True,
        )

    population, halloffame, logbook, start_gen = start_or_resume(
        toolbox, config.population, paths["checkpoint.pkl"], resume, seed=config.seed
    )

    started = time.perf_counter()
    population, logbook = ea_cnn_ga(
        population,
        toolbox,
        cxpb=config.cxpb,
        mutpb=config.mutpb,
        ngen=config.generations,
        stats=_stats(),
        halloffame=halloffame,
        verbose=verbose,
        cache=EvaluationCache(store),
        checkpoint=paths["checkpoint.pkl"],
        start_gen=start_gen,
        logbook=logbook,
    )
    search_seconds = time.perf_counter() - started
    _save_logbook(logbook, os.path.join(config.out, "logbook.csv"))
    _plot_fitness(logbook, os.path.join(config.out, "fitness.png"))

    best = halloffame[0]
    summary = {
        "genome": str(best),
        "validation_fitness": best.fitness.values[0],
        "evaluations": len(store),
        "search_seconds": round(search_seconds, 1),
        "classes": list(dataset.classes),
    }
    store.close()
    if config.final_epochs > 0:
        if verbose:
            print(f"retraining {best} on the whole training set for {config.final_epochs} epochs", flush=True)
        final = train_and_test(
            best, source, space, config.train_settings(epochs=config.final_epochs), device=config.device
        )
        summary.update(test_accuracy=final["test_accuracy"], final_epochs=config.final_epochs)
        details = {key: value for key, value in summary.items() if key != "genome"}
        save_network(final["model"], os.path.join(config.out, "best.pt"), best, space.input_shape, space.n_classes, **details)
    else:
        with open(os.path.join(config.out, "best.json"), "w") as handle:
            description = {**summary, "input_shape": list(space.input_shape), "n_classes": space.n_classes}
            json.dump(description, handle, indent=2)
    if verbose:
        line = f"best architecture: {summary['genome']} (validation fitness {summary['validation_fitness']:.4f}"
        if "test_accuracy" in summary:
            line += f", test accuracy {summary['test_accuracy']:.4f} after {config.final_epochs} epochs"
        print(line + f"); results in {config.out}", flush=True)
    return summary


def _on_off_auto(text):
    choices = {"on": True, "off": False, "auto": "auto"}
    if text not in choices:
        raise argparse.ArgumentTypeError(f"expected on, off or auto, got {text!r}")
    return choices[text]


def build_parser(defaults: SearchConfig) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Evolve a CNN architecture with CNN-GA (DEAP).")
    add = parser.add_argument
    add("--data", default=defaults.data, help="sample, cifar10, cifar100, mnist, fashion-mnist, a .npz or a folder")
    add("--data-dir", default=defaults.data_dir, help="folder that holds (or receives) the data")
    add("--download", action="store_true", default=defaults.download, help="download the data if it is missing")
    add("--population", type=int, default=defaults.population)
    add("--generations", type=int, default=defaults.generations)
    add("--epochs", type=int, default=defaults.epochs, help="training epochs per candidate")
    add("--time-budget", type=float, default=defaults.time_budget, help="seconds of training per candidate")
    add("--max-batches", type=int, default=defaults.max_batches, help="cap on batches per epoch (quick runs)")
    add("--batch-size", type=int, default=defaults.batch_size)
    add("--lr", type=float, default=defaults.lr)
    add("--widths", type=int, nargs="+", default=list(defaults.widths), help="skip unit widths to choose from")
    add("--max-skip-units", type=int, default=defaults.max_skip_units)
    add("--augment", default=defaults.augment, choices=["auto", "crop_flip", "flip", "none"])
    add("--final-epochs", type=int, default=defaults.final_epochs, help="epochs to retrain the best (0: skip)")
    add("--seed", type=int, default=defaults.seed)
    add("--out", default=defaults.out, help="run folder")
    add("--resume", action="store_true", help="continue the run in --out")
    add(
        "--device",
        default=defaults.device,
        help="cpu, cuda or cuda:N (default: CUDA when available; with several GPUs each worker takes one "
        "round-robin, so `-n GPUS*K` puts K workers on each GPU)",
    )
    add(
        "--cpu-amp",
        default=defaults.cpu_amp,
        type=_on_off_auto,
        help="bf16 on CPU: on, off or auto (on where the processor has native bf16)",
    )
    return parser


def main(argv=None, **defaults):
    """Command-line entry of the benchmark scripts; ``defaults`` override :class:`SearchConfig`'s."""
    from .data import DataError

    parser = build_parser(SearchConfig(**defaults))
    args = vars(parser.parse_args(argv))
    resume = args.pop("resume")
    args["widths"] = tuple(args["widths"])
    try:
        return run_search(SearchConfig(**args), resume=resume)
    except (DataError, RunFolderError) as error:
        sys.exit(f"error: {error}")
    except LostWorkerError as error:
        from .engines.scoop_engine import end_scoop_run

        end_scoop_run(f"error: {error}\nresume with: {_resume_command(argv)}")


def _resume_command(argv):
    """The command line that continues this run: the same one with ``--resume``."""
    from .engines.scoop_engine import scoop_is_running

    args = [arg for arg in (sys.argv[1:] if argv is None else argv) if arg != "--resume"]
    launcher = ["python"]
    if scoop_is_running():
        import scoop

        launcher += ["-m", "scoop", "-n", str(scoop.SIZE)]
    return shlex.join(launcher + [sys.argv[0], *args, "--resume"])
