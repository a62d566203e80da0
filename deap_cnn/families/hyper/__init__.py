"""Hyperparameter genes (learning rate, weight decay, batch size, optimiser, ...) on top of a family's genome.

Torch-free: the genes (:mod:`.genes`) and the combined genome, space and
operators (:mod:`.genome`); networks that use the genes are in
:mod:`.network`. :func:`hyper_family` turns a registered family into one
whose individuals also carry the genes (``--hyper`` on the command line).
"""

from functools import partial

from ..registry import Family
from .encoding import encode_hyper
from .genes import HyperParams, HyperSpace, crossover_hyper, mutate_hyper, random_hyper
from .genome import (
    HyperCnnGenome,
    HyperDevolGenome,
    HyperSearchSpace,
    cx_arch_hyper,
    hyper_genome_class,
    init_arch_hyper,
    mut_arch_hyper,
    split_text,
)

__all__ = [
    "HyperParams",
    "HyperSpace",
    "HyperSearchSpace",
    "HyperCnnGenome",
    "HyperDevolGenome",
    "hyper_genome_class",
    "hyper_family",
    "init_arch_hyper",
    "cx_arch_hyper",
    "mut_arch_hyper",
    "random_hyper",
    "mutate_hyper",
    "crossover_hyper",
    "split_text",
]


def hyper_family(base: Family, genome_class, random_genes, builder, hyper_space=HyperSpace()) -> Family:
    """``base`` with hyperparameter genes: named ``base.name + "+hyper"``.

    ``genome_class`` comes from :func:`hyper_genome_class` (bound at module
    level, for pickling); ``random_genes(arch_space, rng)`` draws the
    architecture's genes; ``builder`` names a builder that applies the
    genes' network options (``"module:function"``).
    """

    def make_space(input_shape, n_classes, options):
        return HyperSearchSpace(base.space(input_shape, n_classes, options), hyper_space, genome_class=genome_class)

    return Family(
        name=f"{base.name}+hyper",
        genome_class=genome_class,
        make_space=make_space,
        init=partial(init_arch_hyper, arch_init=random_genes),
        mate=partial(cx_arch_hyper, arch_mate=base.mate),
        mutate=partial(mut_arch_hyper, arch_mutate=base.mutate),
        select_mates=base.select_mates,
        select=base.select,
        encode=partial(encode_hyper, arch_encode=base.encode) if base.encode is not None else None,
        builder=builder,
        train_defaults=base.train_defaults,
        objectives=base.objectives,
        data=base.data,
        description=f"{base.name} with hyperparameter genes",
    )
