"""deap_cnn: evolve neural network architectures with DEAP (CNN-GA and friends).

The package reads as its architecture:

- :mod:`deap_cnn.families`: genome families (CNN-GA, DEvol, fully connected,
  transfer learning, hyperparameter genes), each a torch-free genome, space
  and DEAP operators beside its network builder; the :class:`Family` registry;
- :mod:`deap_cnn.search`: strategies (CNN-GA's loop, NSGA-II, random search,
  TPE) behind one signature, the evaluation cache, successive halving;
- :mod:`deap_cnn.training`: data, data on the device and augmentation, the
  trainer, the evaluator DEAP calls, devices, the final retraining (torch);
- :mod:`deap_cnn.runs`: the run folder, settings, results store,
  checkpoints, plots and the ``deap-cnn`` command line.

CNN-GA's genome, space and operators are imported here, and ``import
deap_cnn`` stays free of torch.
"""

from .families.base import GenomeError, SearchSpaceError
from .families.cnn_ga.genome import POOL_KINDS, Genome, PoolGene, SkipGene
from .families.cnn_ga.operators import (
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
from .families.cnn_ga.space import MUTATIONS, SearchSpace
from .families.registry import Family, family_names, get_family, register_family

__version__ = "0.1.0"

__all__ = [
    "Family",
    "family_names",
    "get_family",
    "register_family",
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
