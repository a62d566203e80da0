"""A run's pictures: best and mean fitness per generation, and the Pareto front (PNG, matplotlib)."""

from __future__ import annotations

from ..search.objectives import SIZE_OBJECTIVES, Objectives

__all__ = ["plot_fitness", "plot_front"]


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
    """Save a PNG of the first objective against the second.

    ``objectives`` are names or an :class:`~deap_cnn.search.objectives.Objectives`.
    ``front`` and ``evaluated`` hold individuals, ``(genome, values)`` pairs
    or store rows (dicts with ``genome`` and ``fitness``); every evaluated
    candidate is a grey dot, the front a red staircase. Sizes are on a log
    scale (they span orders of magnitude); failed candidates (an objective
    at its worst value) are left out of the picture.
    """
    plt = _pyplot()
    objectives = Objectives(objectives)
    first, second = objectives[0], objectives[1]

    def xy(members):
        points = [
            values for _, values in _front_points(members)
            if not any(value == objective.worst for value, objective in zip(values, objectives, strict=True))
        ]  # fmt: skip
        return [p[1] for p in points], [p[0] for p in points]

    figure, axes = plt.subplots(figsize=(6, 4))
    xs, ys = xy(evaluated)
    if xs:
        axes.scatter(xs, ys, s=12, color="0.6", label="evaluated")
    fx, fy = xy(front)
    if fx:
        order = sorted(range(len(fx)), key=lambda n: fx[n])
        where = "post" if second.weight < 0 else "pre"  # a member's value holds on the side where x worsens
        axes.step([fx[n] for n in order], [fy[n] for n in order], where=where, color="tab:red", alpha=0.6)
        axes.scatter(fx, fy, s=30, color="tab:red", label="Pareto front", zorder=3)
        if second.name in SIZE_OBJECTIVES:
            axes.set_xscale("log")
    axes.set_xlabel(f"{second.name} ({second.direction}d)")
    axes.set_ylabel(f"{first.name} ({first.direction}d)")
    if len(objectives) > 2:
        axes.set_title(f"front over {', '.join(objectives.names)}; shown: {first.name} vs {second.name}", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    return plt


def plot_fitness(logbook, path, ylabel="fitness (validation accuracy)", minimise=False):
    """Save a PNG of the best and mean fitness per generation (``max``, or ``min`` when minimised, and ``mean``)."""
    import matplotlib.ticker

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    generations = logbook.select("gen")
    axes.plot(generations, logbook.select("min" if minimise else "max"), marker="o", label="best")
    axes.plot(generations, logbook.select("mean"), marker=".", label="mean")
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set_xlabel("generation")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
