"""Multi-objective search: validation accuracy against network size, with NSGA-II.

A user who needs a small or cheap network, not only an accurate one, wants
the trade-off itself: every architecture for which no other found is both at
least as accurate and at least as small. This module gets it from the same
CNN-GA loop (:func:`~deap_cnn.algorithms.ea_cnn_ga`) with three swaps:

- the fitness is a tuple such as ``(validation accuracy, parameters)``, made
  by :class:`MultiObjective` around an ordinary evaluator (accuracy is
  maximised, parameters and FLOPs minimised);
- environmental selection is :func:`deap.tools.selNSGA2` and mate selection
  :func:`sel_dominance_tournament` (NSGA-II's crowded binary tournament);
- the hall of fame is a :class:`deap.tools.ParetoFront`.

:func:`run_nsga2` does a whole run: it saves the front (genomes and
objective values) in the results store's ``pareto_front`` table
(:meth:`deap_cnn.store.ResultsStore.save_front`) and plots it as a PNG.

The DEAP types below are created when this module is imported, so worker
processes that import it can unpickle individuals.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time

from deap import base, creator, tools

from .algorithms import EvaluationCache, ea_cnn_ga
from .genome import Genome
from .space import SearchSpace

__all__ = [
    "OBJECTIVES",
    "WORST_SIZE",
    "MultiObjective",
    "check_objectives",
    "objective_weights",
    "individual_type",
    "sel_dominance_tournament",
    "front_ranks_and_crowding",
    "make_nsga2_toolbox",
    "objective_stats",
    "nsga2",
    "plot_front",
    "run_nsga2",
    "main",
]

#: Objective names: the first is maximised, the sizes are minimised.
OBJECTIVES = ("accuracy", "parameters", "flops")
SIZE_OBJECTIVES = ("parameters", "flops")

#: Size given to a candidate whose training failed: finite (so sorting,
#: statistics, JSON and SQLite keep working) and beyond any real network, so a
#: failure is dominated by every candidate that trained.
WORST_SIZE = 1e18

# One type per objective count: ("accuracy", size) and ("accuracy", size, size).
if not hasattr(creator, "ParetoFitness2"):
    creator.create("ParetoFitness2", base.Fitness, weights=(1.0, -1.0))
if not hasattr(creator, "ParetoIndividual2"):
    creator.create("ParetoIndividual2", Genome, fitness=creator.ParetoFitness2)
if not hasattr(creator, "ParetoFitness3"):
    creator.create("ParetoFitness3", base.Fitness, weights=(1.0, -1.0, -1.0))
if not hasattr(creator, "ParetoIndividual3"):
    creator.create("ParetoIndividual3", Genome, fitness=creator.ParetoFitness3)


def check_objectives(objectives) -> tuple:
    """``objectives`` as a tuple, or a ``ValueError`` saying what is allowed.

    Accuracy comes first, then one or two distinct size objectives
    (``"parameters"``, ``"flops"``): the individual types are fixed at import
    (workers must be able to unpickle them), and these are the combinations
    they cover.
    """
    if isinstance(objectives, str):
        objectives = (objectives,)
    names = tuple(objectives)
    sizes = names[1:]
    if (
        len(names) < 2
        or names[0] != "accuracy"
        or not sizes
        or len(set(sizes)) != len(sizes)
        or any(name not in SIZE_OBJECTIVES for name in sizes)
    ):
        raise ValueError(
            f"objectives must be 'accuracy' followed by one or two of {SIZE_OBJECTIVES}, "
            f"e.g. ('accuracy', 'parameters') or ('accuracy', 'flops'); got {objectives!r}"
        )
    return names


def objective_weights(objectives) -> tuple:
    """DEAP weights for ``objectives``: accuracy maximised, sizes minimised."""
    return tuple(1.0 if name == "accuracy" else -1.0 for name in check_objectives(objectives))


def individual_type(objectives):
    """The creator individual type whose fitness weights fit ``objectives``."""
    return creator.ParetoIndividual2 if len(check_objectives(objectives)) == 2 else creator.ParetoIndividual3


class MultiObjective:
    """Wrap an evaluator so that a record's fitness is ``(accuracy, size, ...)``.

    Parameters
    ----------
    evaluator:
        A :class:`~deap_cnn.evaluate.Evaluator`, or anything with
        ``record(genome)`` returning a record that has ``fitness``,
        ``parameters``, ``flops``, ``status`` and ``to_dict()``.
    objectives:
        ``("accuracy", "parameters")`` (default), ``("accuracy", "flops")``
        or all three. "accuracy" is the evaluator's own scalar fitness (the
        best validation accuracy with the default
        :class:`~deap_cnn.evaluate.TrainSettings`).

    Calling it returns the record with its fitness replaced, so the record
    still fills every column of :data:`deap_cnn.store.RECORD_FIELDS` and
    :func:`~deap_cnn.algorithms.ea_cnn_ga` takes it as it takes a plain
    evaluator's. A failed candidate keeps the evaluator's worst accuracy and
    gets :data:`WORST_SIZE` for every size, so no failure sits on the front
    because its network never got built (and so counted 0 parameters). It
    pickles small (its evaluator and the names), so workers can receive it.
    """

    def __init__(self, evaluator, objectives=("accuracy", "parameters")):
        if not callable(getattr(evaluator, "record", None)):
            raise TypeError(f"evaluator must have a record(genome) method, got {type(evaluator).__name__}")
        self.evaluator = evaluator
        self.objectives = check_objectives(objectives)

    def __repr__(self):
        return f"MultiObjective({self.evaluator!r}, objectives={self.objectives!r})"

    @property
    def weights(self) -> tuple:
        return objective_weights(self.objectives)

    def values(self, record) -> tuple:
        """The objective values of an evaluator's ``record``."""
        ok = getattr(record, "status", "ok") == "ok"
        values = [float(record.fitness[0])]
        for name in self.objectives[1:]:
            values.append(float(getattr(record, name)) if ok else WORST_SIZE)
        return tuple(values)

    def record(self, genome):
        """Train and score ``genome``; the evaluator's record with the multi-objective fitness."""
        record = self.evaluator.record(genome)
        record.fitness = self.values(record)
        return record

    __call__ = record

    def fingerprint(self) -> str:
        """The evaluator's fingerprint extended by the objectives: a store never mixes fitness shapes."""
        inner = self.evaluator.fingerprint() if callable(getattr(self.evaluator, "fingerprint", None)) else ""
        text = json.dumps([inner, list(self.objectives)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def front_ranks_and_crowding(individuals) -> tuple[dict, dict]:
    """Non-domination rank and crowding distance of each individual, keyed by ``id``.

    Rank 0 is the first front. Crowding is computed within each front, as
    NSGA-II does (boundary members get infinity). DEAP's
    ``assignCrowdingDist`` also leaves it on ``ind.fitness.crowding_dist``.
    """
    ranks, crowding = {}, {}
    fronts = tools.sortNondominated(individuals, len(individuals))
    for rank, front in enumerate(fronts):
        tools.emo.assignCrowdingDist(front)
        for ind in front:
            ranks[id(ind)] = rank
            crowding[id(ind)] = ind.fitness.crowding_dist
    return ranks, crowding


def sel_dominance_tournament(individuals, k, rng=random):
    """Select ``k`` mates, each the winner of a binary tournament under Pareto dominance.

    Of two distinct random individuals, the one that dominates the other
    wins; if neither does, the one on the better front (lower non-domination
    rank), then the one with the larger crowding distance (the less crowded
    part of the front), then a coin flip. That is NSGA-II's crowded
    comparison; ranks and crowding are computed here over ``individuals``
    because :func:`~deap_cnn.algorithms.ea_cnn_ga` clones its population
    after selection, and clones drop the crowding that ``selNSGA2`` set.
    Unlike DEAP's ``selTournamentDCD`` it takes any population size and
    ``k``. Returns references, like DEAP's selectors.
    """
    individuals = list(individuals)
    if len(individuals) < 2:
        return individuals * k
    ranks, crowding = front_ranks_and_crowding(individuals)
    chosen = []
    for _ in range(k):
        first, second = rng.sample(individuals, 2)
        if first.fitness.dominates(second.fitness):
            winner = first
        elif second.fitness.dominates(first.fitness):
            winner = second
        elif ranks[id(first)] != ranks[id(second)]:
            winner = first if ranks[id(first)] < ranks[id(second)] else second
        elif crowding[id(first)] != crowding[id(second)]:
            winner = first if crowding[id(first)] > crowding[id(second)] else second
        else:
            winner = rng.choice((first, second))
        chosen.append(winner)
    return chosen


def make_nsga2_toolbox(space, evaluate, map_function=map, objectives=("accuracy", "parameters")) -> base.Toolbox:
    """CNN-GA's toolbox with NSGA-II's selections and the multi-objective individual type.

    ``evaluate`` is typically a :class:`MultiObjective`; its fitness tuple
    must have one value per objective.
    """
    from .run import make_toolbox  # run.py's toolbox, so variation stays CNN-GA's

    toolbox = make_toolbox(space, evaluate, map_function, individual=individual_type(objectives))
    toolbox.register("select", tools.selNSGA2)
    toolbox.register("select_mates", sel_dominance_tournament)
    return toolbox


def objective_stats(objectives) -> tools.Statistics:
    """Per-generation statistics of each objective (max and min), named after the objectives."""
    names = check_objectives(objectives)
    stats = tools.MultiStatistics(
        **{name: tools.Statistics(lambda ind, n=n: ind.fitness.values[n]) for n, name in enumerate(names)}
    )
    stats.register("max", max)
    stats.register("min", min)
    return stats


def nsga2(
    population,
    toolbox,
    ngen,
    cxpb=0.9,
    mutpb=0.2,
    stats=None,
    front=None,
    cache=None,
    checkpoint=None,
    verbose=False,
):
    """Run NSGA-II through :func:`~deap_cnn.algorithms.ea_cnn_ga`; return ``(population, logbook, front)``.

    ``toolbox`` comes from :func:`make_nsga2_toolbox` (``select`` is
    ``selNSGA2``, ``select_mates`` the dominance tournament). ``front``, a
    :class:`deap.tools.ParetoFront` (a new one by default), is the hall of
    fame: it gathers every non-dominated individual the population ever held.
    """
    front = tools.ParetoFront() if front is None else front
    logbook = tools.Logbook()
    logbook.header = ["gen", "nevals", "cache_hits", "failed", "seconds", "eval_seconds"]
    if stats is not None:
        logbook.header += list(stats.fields)
        for name in stats.fields if isinstance(stats, tools.MultiStatistics) else ():
            logbook.chapters[name].header = list(stats[name].fields)  # one column per statistic, not the loop's too
    population, logbook = ea_cnn_ga(
        population,
        toolbox,
        cxpb=cxpb,
        mutpb=mutpb,
        ngen=ngen,
        stats=stats,
        halloffame=front,
        verbose=verbose,
        cache=cache,
        checkpoint=checkpoint,
        logbook=logbook,
    )
    return population, logbook, front


def _front_points(members) -> list[tuple[str, tuple]]:
    points = []
    for member in members:
        if hasattr(member, "fitness"):
            points.append((str(member), tuple(member.fitness.values)))
        elif isinstance(member, dict):
            points.append((str(member["genome"]), tuple(member["fitness"])))
        else:
            genome, values = member
            points.append((str(genome), tuple(values)))
    return points


def plot_front(front, objectives, path, evaluated=()):
    """Save a PNG of accuracy against the first size objective.

    ``front`` and ``evaluated`` hold individuals, ``(genome, values)`` pairs
    or store rows (dicts with ``genome`` and ``fitness``); every evaluated
    candidate is a grey dot, the front a red staircase. Sizes are on a log
    scale (they span orders of magnitude); failed candidates
    (:data:`WORST_SIZE`) are left out of the picture.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = check_objectives(objectives)
    size_name = names[1]

    def xy(members):
        points = [values for _, values in _front_points(members) if values[1] < WORST_SIZE]
        return [p[1] for p in points], [p[0] for p in points]

    figure, axes = plt.subplots(figsize=(6, 4))
    xs, ys = xy(evaluated)
    if xs:
        axes.scatter(xs, ys, s=12, color="0.6", label="evaluated")
    fx, fy = xy(front)
    if fx:
        order = sorted(range(len(fx)), key=lambda n: fx[n])
        axes.step([fx[n] for n in order], [fy[n] for n in order], where="post", color="tab:red", alpha=0.6)
        axes.scatter(fx, fy, s=30, color="tab:red", label="Pareto front", zorder=3)
        axes.set_xscale("log")
    axes.set_xlabel(f"{size_name} (minimised)")
    axes.set_ylabel("validation accuracy (maximised)")
    if len(names) > 2:
        axes.set_title(f"front over {', '.join(names)}; shown: accuracy vs {size_name}", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run_nsga2(
    data="sample",
    space=None,
    settings=None,
    objectives=("accuracy", "parameters"),
    population=8,
    generations=3,
    seed=0,
    out="runs/nsga2",
    map_function=map,
    device=None,
    verbose=True,
) -> dict:
    """A whole NSGA-II search: evaluate, keep the Pareto front, save it in the store and as ``front.png``.

    ``data`` is anything :func:`deap_cnn.data.load_data` takes (prefer a
    :class:`~deap_cnn.data.DataSource` or a name when ``map_function`` sends
    work to other processes). ``space`` defaults to CNN-GA's space for the
    data's shape and classes; ``settings`` to ``TrainSettings()``. The run
    folder gets ``results.sqlite`` (one row per evaluation, plus the
    ``pareto_front`` table) and ``front.png``. Returns a summary dict with
    the front as ``[{"genome", objective: value, ...}]``, best accuracy first.
    """
    from .data import load_data
    from .evaluate import Evaluator, TrainSettings

    names = check_objectives(objectives)
    dataset = load_data(data)
    if space is None:
        space = SearchSpace(input_shape=dataset.input_shape, n_classes=dataset.n_classes)
    evaluator = Evaluator(data, space, settings or TrainSettings(), device=device)
    objective = MultiObjective(evaluator, names)
    os.makedirs(out, exist_ok=True)
    store_path = os.path.join(out, "results.sqlite")
    started = time.perf_counter()
    from .store import ResultsStore

    with ResultsStore(store_path, fingerprint=objective.fingerprint()) as store:
        store.set_settings(
            {"objectives": list(names), "population": population, "generations": generations, "seed": seed}
        )
        toolbox = make_nsga2_toolbox(space, objective, map_function, names)
        random.seed(seed)
        pop = toolbox.population(n=population)
        _, logbook, front = nsga2(
            pop,
            toolbox,
            ngen=generations,
            stats=objective_stats(names),
            cache=EvaluationCache(store),
            verbose=verbose,
        )
        members = sorted(front, key=lambda ind: (-ind.fitness.values[0], ind.fitness.values[1:]))
        store.save_front(members, names)
        evaluated = [row for row in store.records() if row.get("status") == "ok"]
        plot_front(members, names, os.path.join(out, "front.png"), evaluated=evaluated)
        evaluations = len(store)
    summary = {
        "objectives": list(names),
        "front": [{"genome": str(ind), **dict(zip(names, ind.fitness.values))} for ind in members],
        "evaluations": evaluations,
        "generations": len(logbook) - 1,
        "seconds": round(time.perf_counter() - started, 1),
        "store": store_path,
        "plot": os.path.join(out, "front.png"),
    }
    if verbose:
        print(f"Pareto front ({len(members)} architectures, {evaluations} trained):")
        for row in summary["front"]:
            sizes = ", ".join(f"{name} {row[name]:.0f}" for name in names[1:])
            print(f"  {row['genome']:<40} accuracy {row['accuracy']:.4f}, {sizes}")
        print(f"front saved in {store_path} (table pareto_front) and {summary['plot']}")
    return summary


def main(argv=None):
    """``python -m deap_cnn.multiobjective``: a small NSGA-II search, serial, on the bundled sample by default."""
    from .data import DataSource
    from .evaluate import TrainSettings

    parser = argparse.ArgumentParser(description="NSGA-II over CNN-GA architectures: accuracy against size.")
    parser.add_argument("--data", default="sample")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--objectives", nargs="+", default=["accuracy", "parameters"])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-batches", type=int, default=None)
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--max-skip-units", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=time.strftime("runs/nsga2-%Y%m%d-%H%M%S"))
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    from .data import load_data

    source = DataSource(args.data, root=args.data_dir)
    dataset = load_data(source)
    space = SearchSpace(
        input_shape=dataset.input_shape,
        n_classes=dataset.n_classes,
        widths=tuple(args.widths),
        max_skip_units=args.max_skip_units,
    )
    settings = TrainSettings(epochs=args.epochs, max_batches_per_epoch=args.max_batches, seed=args.seed)
    return run_nsga2(
        source,
        space,
        settings,
        objectives=tuple(args.objectives),
        population=args.population,
        generations=args.generations,
        seed=args.seed,
        out=args.out,
        device=args.device,
    )


if __name__ == "__main__":
    main()
