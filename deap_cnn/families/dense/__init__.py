"""Fully connected networks on feature vectors (DeepLearnGene-style; torch-free; builder in :mod:`.network`)."""

from ..registry import Family
from .encoding import encode_dense
from .genome import DenseGenome, HiddenLayer
from .operators import (
    cx_dense,
    cx_dense_uniform,
    init_dense,
    mut_dense,
    random_dense_genome,
    sel_best_plus_random,
)
from .space import DenseSpace

__all__ = [
    "FAMILY",
    "DenseGenome",
    "HiddenLayer",
    "DenseSpace",
    "init_dense",
    "cx_dense",
    "cx_dense_uniform",
    "mut_dense",
    "random_dense_genome",
    "sel_best_plus_random",
]


def make_space(input_shape, n_classes, options) -> DenseSpace:
    """Up to ``max_layers`` hidden layers (default 4) of ``units`` each."""
    defaults = DenseSpace.__dataclass_fields__
    return DenseSpace(
        input_shape=input_shape,
        n_classes=n_classes,
        max_layers=options.get("max_layers") or defaults["max_layers"].default,
        units=tuple(options.get("units") or defaults["units"].default),
    )


def sel_best(individuals, k, fit_attr="fitness"):
    """The ``k`` best, one copy each: DeepLearnGene's survivors (elitist, no duplicates picked)."""
    from deap import tools

    return tools.selBest(individuals, k, fit_attr=fit_attr)


FAMILY = Family(
    name="dense",
    genome_class=DenseGenome,
    make_space=make_space,
    init=init_dense,
    mate=cx_dense,
    mutate=mut_dense,
    select_mates=sel_best_plus_random,
    select=sel_best,
    data="vectors",
    encode=encode_dense,
    description="fully connected networks on feature vectors (DeepLearnGene)",
)
