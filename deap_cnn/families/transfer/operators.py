"""DEAP operators of the transfer genome: init, two-point crossover, Gaussian mutation.

Parents are picked by DEAP's own ``tools.selTournament`` (tournaments of two).
"""

from __future__ import annotations

import math
import random

from ..hyper.genes import quantize_linear, quantize_log
from .genome import TRANSFER_GENES
from .space import TransferSpace

__all__ = [
    "random_transfer_genome",
    "init_transfer_genome",
    "cx_two_point",
    "changeable_genes",
    "mut_transfer",
]

#: Attempts a Gaussian mutation makes to land on a different value before drawing across the range.
_GAUSS_TRIES = 20


def _clip(value, low, high):
    return min(max(value, low), high)


def random_transfer_genome(space: TransferSpace, rng=random) -> list:
    """``[kept, frozen, lr, dropout]``: kept uniform in ``[1, n]``, frozen uniform in ``[0, kept]``,
    lr log-uniform, dropout uniform."""
    kept = rng.randint(1, space.n_layers)
    frozen = rng.randint(0, kept)
    low, high = space.lr_range
    lr = _clip(quantize_log(10 ** rng.uniform(math.log10(low), math.log10(high))), low, high)
    low, high = space.dropout_range
    dropout = _clip(quantize_linear(rng.uniform(low, high)), low, high)
    return [kept, frozen, lr, dropout]


def init_transfer_genome(container, space: TransferSpace, rng=random):
    """A random individual of type ``container``.

    ``toolbox.register("individual", init_transfer_genome, creator.TransferIndividual, space)``
    """
    return container(random_transfer_genome(space, rng))


def cx_two_point(ind1, ind2, space: TransferSpace, rng=random):
    """Two-point crossover: the genes between two cut points swap places.

    Cuts ``1 <= i < j <= 4`` (DEAP's ``cxTwoPoint`` convention), so one of
    the six segments ``[i:j]`` is exchanged. A child whose ``frozen`` then
    exceeds its ``kept`` is repaired to ``frozen = kept``. Every other gene
    comes unchanged from a parent, so children of valid parents are valid.
    """
    size = len(TRANSFER_GENES)
    i = rng.randint(1, size - 1)
    j = rng.randint(i + 1, size)
    a, b = list(ind1), list(ind2)
    a[i:j], b[i:j] = b[i:j], a[i:j]
    for genes in (a, b):
        genes[1] = min(genes[1], genes[0])
    ind1[:], ind2[:] = a, b
    return ind1, ind2


def changeable_genes(genome, space: TransferSpace) -> list[int]:
    """Positions of the genes a mutation can change within ``space``."""
    kept = genome[0]
    positions = []
    if space.n_layers > 1:
        positions.append(0)
    if kept > 0:
        positions.append(1)
    if space.lr_range[0] < space.lr_range[1]:
        positions.append(2)
    if space.dropout_range[0] < space.dropout_range[1]:
        positions.append(3)
    return positions


def _int_step(value, low, high, sigma, rng):
    if low >= high:
        return value
    step = int(round(rng.gauss(0.0, sigma))) or rng.choice((-1, 1))
    new = _clip(value + step, low, high)
    if new == value:  # at a bound: go the other way
        new = _clip(value - step, low, high)
    return new


def _float_step(value, low, high, sigma, rng, log):
    quantize = quantize_log if log else quantize_linear
    for attempt in range(_GAUSS_TRIES + 100):
        if attempt < _GAUSS_TRIES:
            new = 10 ** (math.log10(value) + rng.gauss(0.0, sigma)) if log else value + rng.gauss(0.0, sigma)
        elif log:
            new = 10 ** rng.uniform(math.log10(low), math.log10(high))
        else:
            new = rng.uniform(low, high)
        new = _clip(quantize(new), low, high)
        if new != value:
            return new
    return value


def mut_transfer(individual, space: TransferSpace, rng=random, indpb=0.5):
    """Bounded mutation: each gene changes with probability ``indpb`` (at least one always does).

    ``kept`` and ``frozen`` take a Gaussian integer step (standard deviation
    ``space.layer_sigma * n_layers``, at least one layer) clipped to their
    bounds; ``lr`` a Gaussian step of ``space.log_sigma`` decades, ``dropout``
    one of ``space.dropout_sigma``, clipped to their ranges. ``frozen`` is
    bounded by the new ``kept`` (and cut down to it when ``kept`` falls below).
    In place; returns a 1-tuple. The genome always changes when any gene can.
    """
    positions = changeable_genes(individual, space)
    if not positions:
        return (individual,)
    chosen = [p for p in positions if rng.random() < indpb] or [rng.choice(positions)]
    kept, frozen, lr, dropout = individual
    layer_sigma = max(1.0, space.layer_sigma * space.n_layers)
    if 0 in chosen:
        kept = _int_step(kept, 1, space.n_layers, layer_sigma, rng)
    if 1 in chosen and kept > 0:
        frozen = _int_step(min(frozen, kept), 0, kept, layer_sigma, rng)
    frozen = min(frozen, kept)
    if 2 in chosen:
        lr = _float_step(lr, *space.lr_range, space.log_sigma, rng, log=True)
    if 3 in chosen:
        dropout = _float_step(dropout, *space.dropout_range, space.dropout_sigma, rng, log=False)
    individual[:] = [kept, frozen, lr, dropout]
    return (individual,)
