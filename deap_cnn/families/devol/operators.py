"""DEAP operators of DEvol's genome: random genes, one-point crossover, per-gene mutation."""

from __future__ import annotations

import random

from ..base import GenomeError
from .genome import CONV_FIELDS, DevolGene
from .space import DevolSpace, _pool_count

__all__ = ["random_devol_genes", "init_devol", "cx_devol", "mut_devol"]


def random_devol_genes(space: DevolSpace, rng=random) -> list:
    """A list of genes valid in ``space``: every gene uniform over its choices.

    Where that draws more switched-on poolings than the input survives,
    pooling is turned off in randomly chosen layers until it does.
    """
    genes = [DevolGene(field, rng.choice(space.choices(field))) for field in space.layout]
    excess = _pool_count(genes) - space.max_pool_layers
    if excess > 0:
        width, offset = len(CONV_FIELDS), CONV_FIELDS.index("max_pooling")
        pooling = [
            n * width + offset
            for n in range(space.max_conv_layers)
            if genes[n * width].value and genes[n * width + offset].value
        ]
        for position in rng.sample(pooling, excess):
            genes[position] = DevolGene("max_pooling", False)
    return genes


def init_devol(container, space: DevolSpace, rng=random):
    """A random individual of type ``container``.

    ``toolbox.register("individual", init_devol, creator.Individual, space)``
    """
    return container(random_devol_genes(space, rng))


def cx_devol(ind1, ind2, space: DevolSpace, rng=random):
    """One-point crossover on the fixed width (DEvol's): genes after a common cut are swapped.

    The cut is drawn uniformly among those whose two children are both valid
    and differ from the parents; with none, the parents stay unchanged. Every
    position keeps its parents' two genes between the children.
    """
    a, b = list(ind1), list(ind2)
    if len(a) != len(b):
        raise GenomeError(f"cx_devol needs genomes of one width, got {len(a)} and {len(b)} genes")
    cuts = []
    for cut in range(1, len(a)):
        child1, child2 = a[:cut] + b[cut:], b[:cut] + a[cut:]
        if child1 in (a, b):  # then child2 is the other parent: nothing exchanged
            continue
        if _pool_count(child1) <= space.max_pool_layers and _pool_count(child2) <= space.max_pool_layers:
            cuts.append(cut)
    if cuts:
        cut = rng.choice(cuts)
        ind1[:], ind2[:] = a[:cut] + b[cut:], b[:cut] + a[cut:]
    return ind1, ind2


def _expressed(genes, position) -> bool:
    """Whether the gene at ``position`` shapes the network: on/off genes, the optimiser, genes of switched-on layers."""
    field = genes[position].field
    if field in ("conv_active", "dense_active", "optimizer"):
        return True
    start = position
    while genes[start].field not in ("conv_active", "dense_active"):
        start -= 1
    return genes[start].value


def _alternatives(genes, position, space) -> list:
    """Values the gene at ``position`` may change to, keeping the genome valid."""
    gene = genes[position]
    options = [v for v in space.choices(gene.field) if v != gene.value]
    if gene.field in ("conv_active", "max_pooling") and _pool_count(genes) >= space.max_pool_layers:
        # Switching a pooling layer on, or pooling in a switched-on layer, adds one pooling.
        options = [
            v
            for v in options
            if _pool_count(genes[:position] + [DevolGene(gene.field, v)] + genes[position + 1 :])
            <= space.max_pool_layers
        ]
    return options


def mut_devol(individual, space: DevolSpace, rng=random, indpb=None):
    """Per-gene mutation: a gene takes another of its allowed values.

    With ``indpb=None`` (default) exactly one gene changes, drawn uniformly
    among the genes that shape the network (on/off genes, the optimiser and
    the genes of switched-on layers), so every mutation changes the network;
    silent genes of layers that are off wait for their layer to come back.
    With ``indpb`` a probability, each such gene mutates independently with
    it (as DEAP's ``mutFlipBit``). A change that would pool the maps below
    1x1 is never made.
    """
    genes = list(individual)
    if indpb is None:
        positions = [p for p in range(len(genes)) if _expressed(genes, p) and _alternatives(genes, p, space)]
        if positions:
            position = rng.choice(positions)
            individual[position] = DevolGene(genes[position].field, rng.choice(_alternatives(genes, position, space)))
        return (individual,)
    for position in range(len(genes)):
        if rng.random() < indpb and _expressed(genes, position):
            options = _alternatives(genes, position, space)
            if options:
                genes[position] = DevolGene(genes[position].field, rng.choice(options))
    individual[:] = genes
    return (individual,)
