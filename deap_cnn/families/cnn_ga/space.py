"""The search space: every constraint a CNN-GA genome must keep, in one object."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..base import (
    GenomeRules,
    SearchSpaceError,
    _as_tuple,
    _check_image_shape_and_classes,
    is_int,
    max_pool_units_for,
)
from .genome import POOL_KINDS, Genome, PoolGene, SkipGene

__all__ = ["MUTATIONS", "NETWORK_BUILDER", "SearchSpace"]

#: Mutation types in the order of :attr:`SearchSpace.mutation_probabilities`.
MUTATIONS = ("add_skip", "add_pool", "remove", "change")


#: CNN-GA's published cap on pooling units (for 32x32 inputs).
PUBLISHED_MAX_POOL_UNITS = 3


#: CNN-GA's network builder as ``"module:function"`` (the space, the family and the hyper genes name it so).
NETWORK_BUILDER = "deap_cnn.families.cnn_ga.network:build_network"


@dataclass(frozen=True)
class SearchSpace(GenomeRules):
    """Constraints of the CNN-GA search space.

    Parameters
    ----------
    input_shape:
        ``(channels, height, width)`` of the images, e.g. ``(3, 32, 32)``.
    n_classes:
        Number of output classes (at least 2).
    widths:
        Output widths a skip unit may take (CNN-GA: 64, 128, 256).
    min_skip_units, max_skip_units:
        Bounds on the number of skip units in a genome.
    max_pool_units:
        Most pooling units a genome may hold. ``None`` (default) takes the
        published 3, lowered where the input is too small for 3 poolings to
        leave at least a 1x1 map. An explicit value larger than the input
        allows is an error.
    pool_kinds:
        Pooling kinds a pooling unit may take (subset of ``("max", "mean")``).
    mutation_probabilities:
        Relative weights of add-skip, add-pooling, remove and change mutations
        (CNN-GA: 0.7, 0.1, 0.1, 0.1).

    Notes
    -----
    A genome never starts with a pooling unit.
    """

    # The Evaluator's default builder, named rather than imported: this module stays torch-free.
    network_builder = NETWORK_BUILDER
    genome_class = Genome

    input_shape: tuple = (3, 32, 32)
    n_classes: int = 10
    widths: tuple = (64, 128, 256)
    min_skip_units: int = 1
    max_skip_units: int = 10
    max_pool_units: int | None = None
    pool_kinds: tuple = POOL_KINDS
    mutation_probabilities: tuple = (0.7, 0.1, 0.1, 0.1)

    def __post_init__(self):
        _check_image_shape_and_classes(self)
        widths = _as_tuple(self.widths, "widths")
        if not widths or not all(is_int(w) and w >= 1 for w in widths):
            raise SearchSpaceError(f"widths must be a non-empty sequence of positive integers, got {self.widths!r}")
        object.__setattr__(self, "widths", tuple(sorted(set(widths))))
        if not (is_int(self.min_skip_units) and self.min_skip_units >= 1):
            raise SearchSpaceError(f"min_skip_units must be an integer >= 1, got {self.min_skip_units!r}")
        if not (is_int(self.max_skip_units) and self.max_skip_units >= self.min_skip_units):
            raise SearchSpaceError(
                f"max_skip_units must be an integer >= min_skip_units ({self.min_skip_units}), "
                f"got {self.max_skip_units!r}"
            )
        shape = self.input_shape
        _, height, width = shape
        allowed = max_pool_units_for(height, width)
        if self.max_pool_units is None:
            object.__setattr__(self, "max_pool_units", min(PUBLISHED_MAX_POOL_UNITS, allowed))
        elif not is_int(self.max_pool_units) or self.max_pool_units < 0:
            raise SearchSpaceError(f"max_pool_units must be an integer >= 0, got {self.max_pool_units!r}")
        elif self.max_pool_units > allowed:
            raise SearchSpaceError(
                f"input shape {shape} is too small for max_pool_units={self.max_pool_units}: "
                f"{height}x{width} maps survive at most {allowed} 2x2 poolings before falling below 1x1; "
                f"lower max_pool_units to {allowed} or use larger images"
            )
        kinds = _as_tuple(self.pool_kinds, "pool_kinds")
        if not kinds or any(k not in POOL_KINDS for k in kinds):
            raise SearchSpaceError(f"pool_kinds must be a non-empty subset of {POOL_KINDS}, got {self.pool_kinds!r}")
        object.__setattr__(self, "pool_kinds", kinds)
        try:
            if isinstance(self.mutation_probabilities, (str, bytes)):
                raise TypeError  # "1234" would otherwise read as four weights
            probs = tuple(float(p) for p in self.mutation_probabilities)
        except (TypeError, ValueError):
            probs = ()  # not a sequence of numbers: reported below
        if len(probs) != len(MUTATIONS) or any(p < 0 or not math.isfinite(p) for p in probs) or sum(probs) <= 0:
            raise SearchSpaceError(
                f"mutation_probabilities must be {len(MUTATIONS)} non-negative weights for {MUTATIONS} "
                f"with a positive sum, got {self.mutation_probabilities!r}"
            )
        object.__setattr__(self, "mutation_probabilities", probs)

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]

    def violations(self, genome) -> list[str]:
        """Every rule ``genome`` breaks, each naming the rule and the offending value."""
        problems = []
        genes = list(genome)
        if not genes:
            return ["rule 'non-empty': a genome needs at least one skip unit, got an empty genome"]
        for position, gene in enumerate(genes):
            if isinstance(gene, SkipGene):
                if gene.width not in self.widths:
                    problems.append(
                        f"rule 'width choices': unit {position} has width {gene.width}, allowed widths are {self.widths}"
                    )
            elif isinstance(gene, PoolGene):
                if gene.kind not in self.pool_kinds:
                    problems.append(
                        f"rule 'pooling kinds': unit {position} is '{gene.kind}' pooling, "
                        f"allowed kinds are {self.pool_kinds}"
                    )
            else:
                problems.append(f"rule 'gene type': unit {position} is {gene!r}, not a SkipGene or PoolGene")
        if isinstance(genes[0], PoolGene):
            problems.append(f"rule 'no pooling first': the genome starts with pooling unit {genes[0]}")
        skips = sum(isinstance(g, SkipGene) for g in genes)
        pools = sum(isinstance(g, PoolGene) for g in genes)
        if not self.min_skip_units <= skips <= self.max_skip_units:
            problems.append(
                f"rule 'skip unit count': {skips} skip units, allowed {self.min_skip_units} to {self.max_skip_units}"
            )
        if pools > self.max_pool_units:
            problems.append(
                f"rule 'pooling unit count': {pools} pooling units, at most {self.max_pool_units} "
                f"for input {self.input_shape}"
            )
        return problems

    def largest_genome(self) -> Genome:
        """The most expensive genome of the space: the most skip units, all of the widest kind, no pooling."""
        return Genome([SkipGene(max(self.widths))] * self.max_skip_units)

    def cost(self, genome) -> int:
        """Multiply-adds of the genome's convolutions on one image: a torch-free estimate of its training cost.

        Used to send the most expensive candidates to workers first; the
        exact FLOPs of a built network come from :func:`deap_cnn.training.models.count_flops`.
        """
        channels, height, width = self.input_shape
        total = 0
        for gene in genome:
            if isinstance(gene, SkipGene):
                # two 3x3 convolutions and the 1x1 shortcut, at the current map size
                total += (
                    height * width * (9 * channels * gene.width + 9 * gene.width * gene.width + channels * gene.width)
                )
                channels = gene.width
            else:
                height, width = height // 2, width // 2
        return total
