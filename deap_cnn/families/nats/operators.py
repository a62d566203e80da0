"""DEAP operators of the cell family: init, one-edge mutation, uniform crossover, and the one-edit neighbourhood."""

from __future__ import annotations

import random

from ..base import is_real
from .genome import CellGenome
from .space import NatsSpace

__all__ = ["random_cell", "init_cell", "mut_cell", "cx_cell", "cell_neighbours"]


def random_cell(space: NatsSpace, rng=random) -> list:
    """Six operations drawn uniformly from ``space.operations``: every cell of the space equally likely."""
    return [rng.choice(space.operations) for _ in range(6)]


def init_cell(container, space: NatsSpace, rng=random):
    """A random individual of type ``container``.

    ``toolbox.register("individual", init_cell, creator.Individual, space)``
    """
    return container(random_cell(space, rng))


def mut_cell(individual, space: NatsSpace, rng=random):
    """Change one edge, drawn uniformly, to another allowed operation (in place; returns a tuple).

    A space with a single operation has nothing to change: the cell stays as it is.
    """
    if len(space.operations) < 2:
        return (individual,)
    edge = rng.randrange(len(individual))
    individual[edge] = rng.choice([op for op in space.operations if op != individual[edge]])
    return (individual,)


def cx_cell(ind1, ind2, space: NatsSpace, indpb: float = 0.5, rng=random):
    """Uniform crossover: each edge's operations are swapped between the parents with probability ``indpb``.

    At every edge the two children hold the parents' two operations, so both
    stay valid in the space.
    """
    if not is_real(indpb) or not 0 <= indpb <= 1:
        raise ValueError(f"indpb must be a number in [0, 1], got {indpb!r}")
    for edge in range(min(len(ind1), len(ind2))):
        if rng.random() < indpb:
            ind1[edge], ind2[edge] = ind2[edge], ind1[edge]
    return ind1, ind2


def cell_neighbours(genome, space: NatsSpace) -> list:
    """Every cell one edit away: each edge changed to each other allowed operation (edges in order)."""
    neighbours = []
    for edge, current in enumerate(genome):
        for op in space.operations:
            if op != current:
                neighbour = list(genome)
                neighbour[edge] = op
                neighbours.append(CellGenome(neighbour))
    return neighbours
