"""Transfer learning over a torchvision backbone: layers kept and frozen, learning rate, dropout.

Torch-free here; the backbone and the network are in :mod:`.network`. The
space depends on the backbone (how many layers the images pass through),
so the family makes its builder first and asks it for the space.
"""

from functools import partial

from deap import tools

from ..cnn_ga.operators import sel_environmental
from ..registry import Family
from .encoding import encode_transfer
from .genome import OBJECTIVES, TRAIN_DEFAULTS, TransferGenome
from .operators import cx_two_point, init_transfer_genome, mut_transfer
from .space import TransferSpace

__all__ = ["FAMILY", "TransferGenome", "TransferSpace", "init_transfer_genome", "cx_two_point", "mut_transfer"]


def make_builder(space, options):
    """The :class:`~deap_cnn.families.transfer.network.TransferBuilder` the options ask for (torch)."""
    from .network import TransferBuilder

    return TransferBuilder(
        backbone=options.get("backbone") or "densenet121",
        weights_path=options.get("weights"),
        allow_download=bool(options.get("download")),
        allow_random=bool(options.get("allow_random")),
    )


def make_space(input_shape, n_classes, options) -> TransferSpace:
    """The backbone's space for these images; loading the backbone may fail with a clear error first."""
    return make_builder(None, options).space(input_shape, n_classes)


FAMILY = Family(
    name="transfer",
    genome_class=TransferGenome,
    make_space=make_space,
    make_builder=make_builder,
    init=init_transfer_genome,
    mate=cx_two_point,
    mutate=mut_transfer,
    select_mates=partial(tools.selTournament, tournsize=2),  # the paper's tournaments of two
    select=sel_environmental,
    train_defaults=TRAIN_DEFAULTS,
    encode=encode_transfer,
    objectives=OBJECTIVES,
    description="transfer learning over a torchvision backbone (layers kept/frozen, lr, dropout)",
)
