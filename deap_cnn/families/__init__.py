"""Genome families: each a torch-free genome, space and operators beside its network builder.

============ =========================================================================
``cnn-ga``   CNN-GA's skip/pooling chains (:mod:`.cnn_ga`)
``devol``    DEvol's fixed-width conv + dense genome with an optimiser gene (:mod:`.devol`)
``dense``    fully connected networks on feature vectors (:mod:`.dense`)
``transfer`` layers kept/frozen of a torchvision backbone (:mod:`.transfer`)
``nats``     the NAS-Bench-201 / NATS-Bench topology cell (:mod:`.nats`)
``+hyper``   hyperparameter genes on top of ``cnn-ga`` or ``devol`` (:mod:`.hyper`)
============ =========================================================================

The shared rules and errors are in :mod:`.base`, the :class:`Family`
contract and registry in :mod:`.registry`.
"""

from . import cnn_ga, dense, devol, nats, transfer
from .base import GenomeError, GenomeRules, SearchSpaceError
from .hyper import HyperCnnGenome, HyperDevolGenome, hyper_family
from .registry import (
    Family,
    FamilyError,
    family_names,
    get_family,
    individual_type,
    register_family,
)

__all__ = [
    "Family",
    "FamilyError",
    "GenomeError",
    "GenomeRules",
    "SearchSpaceError",
    "register_family",
    "get_family",
    "family_names",
    "individual_type",
    "hyper_family",
]

for _family in (cnn_ga.FAMILY, devol.FAMILY, dense.FAMILY, transfer.FAMILY, nats.FAMILY):
    register_family(_family)
register_family(
    hyper_family(
        cnn_ga.FAMILY,
        HyperCnnGenome,
        cnn_ga.operators.random_genome,
        "deap_cnn.families.hyper.network:build_hyper_network",
    )
)
register_family(
    hyper_family(
        devol.FAMILY,
        HyperDevolGenome,
        devol.operators.random_devol_genes,
        "deap_cnn.families.hyper.network:build_hyper_devol_network",
    )
)
del _family
