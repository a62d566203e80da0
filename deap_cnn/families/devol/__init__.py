"""DEvol: fixed-width conv + dense genomes with an optimiser gene (torch-free; builder in :mod:`.network`)."""

from ..cnn_ga.operators import sel_binary_tournament, sel_environmental
from ..registry import Family
from .encoding import encode_devol
from .fitness import devol_objective, fitness_accuracy, fitness_neg_loss
from .genome import DevolGene, DevolGenome
from .operators import cx_devol, init_devol, mut_devol, random_devol_genes
from .space import DevolSpace

__all__ = [
    "FAMILY",
    "DevolGene",
    "DevolGenome",
    "DevolSpace",
    "devol_objective",
    "fitness_accuracy",
    "fitness_neg_loss",
    "init_devol",
    "cx_devol",
    "mut_devol",
    "random_devol_genes",
]


def make_space(input_shape, n_classes, options) -> DevolSpace:
    """DEvol's space: ``max_layers`` conv layers (default 3), ``widths`` as feature maps, ``units`` for dense layers."""
    defaults = DevolSpace.__dataclass_fields__
    return DevolSpace(
        input_shape=input_shape,
        n_classes=n_classes,
        max_conv_layers=options.get("max_layers") or defaults["max_conv_layers"].default,
        feature_maps=tuple(options.get("widths") or defaults["feature_maps"].default),
        units=tuple(options.get("units") or defaults["units"].default),
    )


FAMILY = Family(
    name="devol",
    genome_class=DevolGenome,
    make_space=make_space,
    init=init_devol,
    mate=cx_devol,
    mutate=mut_devol,
    select_mates=sel_binary_tournament,
    select=sel_environmental,
    encode=encode_devol,
    description="DEvol: fixed-width conv + dense layers with an optimiser gene",
)
