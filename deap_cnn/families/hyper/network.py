"""Networks for genomes with hyperparameter genes: the architecture-wide genes reach the layers.

The training genes (learning rate, weight decay, batch size, optimiser)
reach the :class:`~deap_cnn.training.evaluator.Evaluator` through
``genome.training_overrides()``; the network genes (activation, kernel size,
dropout) need the builder, which is what this module adds::

    evaluator = Evaluator(DataSource("sample"), space, settings, builder=build_hyper_network)

:class:`HyperBuilder` does the same for another architecture family whose
builder takes ``activation``, ``kernel_size`` and ``dropout`` keywords.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

from ..cnn_ga.network import build_network
from ..devol.network import build_devol_network

__all__ = ["network_options", "build_hyper_network", "accepted_options", "HyperBuilder", "build_hyper_devol_network"]


def network_options(genome) -> dict:
    """The genome's network genes as builder keywords (none for a genome without hyper genes)."""
    hyper = getattr(genome, "hyper", None)
    return {} if hyper is None else hyper.network_options()


def build_hyper_network(genome, input_shape, n_classes: int) -> nn.Module:
    """CNN-GA's network for ``genome`` with its activation, kernel size and dropout genes applied.

    A genome without hyper genes builds exactly :func:`~deap_cnn.families.cnn_ga.network.build_network`'s network.
    """
    return build_network(genome, input_shape, n_classes, **network_options(genome))


def accepted_options(builder, options: dict) -> dict:
    """The entries of ``options`` that ``builder`` takes as keywords (all of them if it takes ``**kwargs``)."""
    try:
        parameters = inspect.signature(builder).parameters
    except (TypeError, ValueError):  # no signature to read: pass everything
        return dict(options)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(options)
    return {key: value for key, value in options.items() if key in parameters}


@dataclass(frozen=True)
class HyperBuilder:
    """``builder(genome, input_shape, n_classes)`` that passes the network genes to ``arch_builder``.

    ``arch_builder`` must be a module-level function (so the evaluator
    pickles to SCOOP workers). It receives those of ``activation``,
    ``kernel_size`` and ``dropout`` that it accepts as keywords: CNN-GA's
    :func:`~deap_cnn.families.cnn_ga.network.build_network` takes all three; DEvol's
    builder takes none (its genome has per-layer activation and dropout
    genes), so with DEvol only the training genes act, and the network genes
    are best fixed to one value in the :class:`~deap_cnn.families.hyper.genes.HyperSpace`.
    """

    arch_builder: object = build_network

    def __call__(self, genome, input_shape, n_classes: int) -> nn.Module:
        options = accepted_options(self.arch_builder, network_options(genome))
        return self.arch_builder(genome, input_shape, n_classes, **options)


#: DEvol's builder with the hyper genes' network options (named by the ``devol+hyper`` family).
build_hyper_devol_network = HyperBuilder(build_devol_network)
