"""deap_cnn: evolve convolutional network architectures with DEAP (after CNN-GA).

The genome, search space and operators (imported here) need no torch, so
``import deap_cnn`` stays light for code that only varies genomes. The torch
parts live in their own modules: ``deap_cnn.network`` (the builder),
``deap_cnn.data``, ``deap_cnn.evaluate``; whole runs in ``deap_cnn.run``.
"""

from .genome import POOL_KINDS, Genome, GenomeError, PoolGene, SkipGene
from .operators import (
    cx_one_point,
    init_genome,
    mut_add_pool,
    mut_add_skip,
    mut_change,
    mut_cnn_ga,
    mut_remove,
    random_genome,
    sel_binary_tournament,
    sel_environmental,
)
from .space import MUTATIONS, SearchSpace, SearchSpaceError

__version__ = "0.1.0"

__all__ = [
    "Genome",
    "GenomeError",
    "MUTATIONS",
    "POOL_KINDS",
    "PoolGene",
    "SearchSpace",
    "SearchSpaceError",
    "SkipGene",
    "cx_one_point",
    "init_genome",
    "mut_add_pool",
    "mut_add_skip",
    "mut_change",
    "mut_cnn_ga",
    "mut_remove",
    "random_genome",
    "sel_binary_tournament",
    "sel_environmental",
]
