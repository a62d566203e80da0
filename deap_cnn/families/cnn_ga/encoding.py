"""A CNN-GA genome as a fixed-length vector of numbers, for surrogate models."""

from __future__ import annotations

import math

from ..base import one_hot
from .genome import PoolGene, SkipGene

__all__ = ["encode_chain"]


def encode_chain(genome, space) -> list:
    """Numbers that describe ``genome`` in ``space``, the same length for every genome of the space.

    A chain's length varies, so it is described by what shapes its network:
    for each stage (the skip units between two poolings) how many skip units
    of each width it has, each pooling unit's kind, the skip and pooling
    counts, and log10 of the multiply-adds (:meth:`~deap_cnn.families.cnn_ga.space.SearchSpace.cost`).
    """
    stages = [[0.0] * len(space.widths) for _ in range(space.max_pool_units + 1)]
    pools = [[0.0] * len(space.pool_kinds) for _ in range(space.max_pool_units)]
    stage = 0
    for gene in genome:
        if isinstance(gene, SkipGene):
            stages[min(stage, space.max_pool_units)][space.widths.index(gene.width)] += 1.0
        elif isinstance(gene, PoolGene) and stage < space.max_pool_units:
            pools[stage] = one_hot(gene.kind, space.pool_kinds)
            stage += 1
    skips = sum(isinstance(gene, SkipGene) for gene in genome)
    vector = [value for row in stages + pools for value in row]
    return vector + [float(skips), float(stage), math.log10(space.cost(genome) + 1.0)]
