"""CNN-GA (Sun et al. 2020): a variable-length chain of skip units and pooling units.

Torch-free: the genome (:mod:`.genome`), its search space (:mod:`.space`),
DEAP operators (:mod:`.operators`) and the Optuna encoding (:mod:`.suggest`);
the network builder is in :mod:`.network` (torch).
"""

from ..registry import Family
from .encoding import encode_chain
from .genome import POOL_KINDS, Genome, PoolGene, SkipGene
from .operators import (
    cx_one_point,
    init_genome,
    mut_cnn_ga,
    sel_binary_tournament,
    sel_environmental,
)
from .space import MUTATIONS, NETWORK_BUILDER, SearchSpace
from .suggest import suggest_genome

__all__ = ["FAMILY", "Genome", "SkipGene", "PoolGene", "POOL_KINDS", "SearchSpace", "MUTATIONS"]


def make_space(input_shape, n_classes, options) -> SearchSpace:
    """CNN-GA's space: ``widths`` (default the published 64, 128, 256) and ``max_skip_units`` (default 10)."""
    return SearchSpace(
        input_shape=input_shape,
        n_classes=n_classes,
        widths=tuple(options.get("widths") or (64, 128, 256)),
        max_skip_units=options.get("max_skip_units") or 10,
    )


FAMILY = Family(
    name="cnn-ga",
    genome_class=Genome,
    make_space=make_space,
    init=init_genome,
    mate=cx_one_point,
    mutate=mut_cnn_ga,
    select_mates=sel_binary_tournament,
    select=sel_environmental,
    builder=NETWORK_BUILDER,
    suggest=suggest_genome,
    encode=encode_chain,
    description="CNN-GA: skip units and pooling units of variable length (Sun et al. 2020)",
)
