"""Multi-objective search: validation accuracy against network size (or any objectives), with NSGA-II.

A user who needs a small or cheap network, not only an accurate one, wants
the trade-off itself: every architecture for which no other found is both at
least as accurate and at least as small. This module gets it from the same
CNN-GA loop (:func:`~deap_cnn.search.ga.ea_cnn_ga`) with three swaps:

- the fitness is a tuple such as ``(validation accuracy, parameters)``, made
  by :class:`~deap_cnn.search.objectives.Objectives` around an ordinary
  evaluator (``Objectives("accuracy", "parameters").wrap(evaluator)``:
  accuracy is maximised, parameters and FLOPs minimised);
- environmental selection is :func:`deap.tools.selNSGA2` and mate selection
  :func:`sel_dominance_tournament` (NSGA-II's crowded binary tournament);
- the hall of fame is a :class:`deap.tools.ParetoFront`.

``deap-cnn search --strategy nsga2 --objectives accuracy parameters`` runs
it for any family (:mod:`deap_cnn.search.strategies`) and saves the front in
the results store's ``pareto_front`` table
(:meth:`deap_cnn.runs.store.ResultsStore.save_front`) and as ``front.png``.
"""

from __future__ import annotations

import random

from deap import tools

from ..families.registry import get_family
from .objectives import objective_weights

__all__ = [
    "individual_type",
    "front_ranks_and_crowding",
    "sel_dominance_tournament",
]


def individual_type(objectives, family="cnn-ga"):
    """The creator individual type of ``family`` whose fitness weights fit ``objectives``."""
    return get_family(family).individual(objective_weights(objectives))


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
    because :func:`~deap_cnn.search.ga.ea_cnn_ga` clones its population
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
