"""Genome families as first-class objects, and the registry the command line reads.

A :class:`Family` gathers what a search needs to know about one kind of
genome: its genome class, how to build its search space from the data's
shape and the user's options, its DEAP operators, its network builder and
the training settings it trains best with. Everything here is free of
torch: a family names its builder as ``"module:function"`` text, resolved
only where networks are trained.

Register your own family and every strategy and the command line can run it::

    from deap_cnn.families import Family, register_family

    register_family(Family(name="my-family", genome_class=MyGenome, make_space=my_space,
                           init=init_mine, mate=cx_mine, mutate=mut_mine,
                           builder="my_package.network:build_mine"))
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from deap import base, creator, tools

from .cnn_ga.operators import sel_binary_tournament, sel_environmental

__all__ = [
    "Family",
    "FamilyError",
    "register_family",
    "get_family",
    "family_names",
    "individual_type",
    "as_individual",
]


class FamilyError(ValueError):
    """No family by that name, or a family that does not fit the request."""


def _no_builder(space, options):
    return None


@dataclass(frozen=True)
class Family:
    """One genome family: genome type, space, operators, builder and training defaults.

    Parameters
    ----------
    name:
        What ``--family`` takes (``"cnn-ga"``).
    genome_class:
        The genome type (a ``list`` subclass with ``from_string`` and a
        canonical ``__str__``); DEAP individuals derive from it.
    make_space:
        ``make_space(input_shape, n_classes, options) -> space``; ``options``
        is a dict of the user's settings (``widths``, ``max_layers``, ...);
        the space validates and parses genomes (``space.validate``, ``space.parse``).
    init, mate, mutate:
        DEAP operators taking ``space=`` (and ``rng=``) keywords:
        ``init(container, space)``, ``mate(ind1, ind2, space)``,
        ``mutate(ind, space)``; variation is in place and returns a tuple.
    select_mates, select:
        Mate selection and environmental selection (CNN-GA's binary
        tournament and elitist environmental selection by default).
    builder:
        ``"module:function"`` of the network builder, or ``None`` when the
        space names it (``space.network_builder``); ``make_builder(space,
        options)`` may build one instead (a transfer-learning backbone).
    train_defaults:
        :class:`~deap_cnn.training.settings.TrainSettings` fields this
        family trains with unless the user says otherwise.
    objectives:
        Names of the objectives (:mod:`deap_cnn.search.objectives`) a search
        of this family optimises unless the user names others (``--objectives``).
    data:
        ``"images"`` or ``"vectors"`` (fully connected networks on features).
    suggest:
        ``suggest(trial, space) -> genome`` for TPE (Optuna), or ``None``
        when the family has no encoding for it.
    encode:
        ``encode(genome, space) -> list of floats``, the same length for
        every genome of the space: what surrogate models learn from
        (``--strategy surrogate``), or ``None``.
    neighbours:
        ``neighbours(genome, space) -> list of genomes``: every genome one
        edit away, for local search (``--strategy local``), or ``None``
        (local search then samples mutants).
    description:
        One line for ``deap-cnn families``.
    """

    name: str
    genome_class: type
    make_space: Callable
    init: Callable
    mate: Callable
    mutate: Callable
    select_mates: Callable = sel_binary_tournament
    select: Callable = sel_environmental
    builder: str | None = None
    make_builder: Callable = _no_builder
    train_defaults: dict = field(default_factory=dict)
    data: str = "images"
    suggest: Callable | None = None
    encode: Callable | None = None
    neighbours: Callable | None = None
    description: str = ""
    objectives: tuple = ("accuracy",)

    def space(self, input_shape, n_classes: int, options: dict | None = None):
        """The family's search space for data of ``input_shape`` and ``n_classes``."""
        return self.make_space(tuple(input_shape), int(n_classes), dict(options or {}))

    def network_builder(self, space, options: dict | None = None):
        """The builder an evaluator should use: made from the options, named by the family, or ``None`` (the space's)."""
        made = self.make_builder(space, dict(options or {}))
        return made if made is not None else self.builder

    def individual(self, weights=(1.0,)) -> type:
        """The DEAP individual type of this family for fitness ``weights`` (see :func:`individual_type`)."""
        return individual_type(self.genome_class, weights)

    def random_individual(self, container, space, rng=random):
        """A random genome of the space, as ``container`` (random search draws with this)."""
        return self.init(container, space, rng=rng)

    def toolbox(self, space, evaluate, map_function=map, weights=(1.0,)) -> base.Toolbox:
        """A DEAP toolbox with the family's operators bound to ``space``, ready for the generational loops."""
        individual = self.individual(weights)
        toolbox = base.Toolbox()
        toolbox.register("individual", self.init, individual, space)
        toolbox.register("population", tools.initRepeat, list, toolbox.individual)
        toolbox.register("mate", self.mate, space=space)
        toolbox.register("mutate", self.mutate, space=space)
        toolbox.register("select_mates", self.select_mates)
        toolbox.register("select", self.select)
        toolbox.register("evaluate", evaluate)
        toolbox.register("map", map_function)
        cost = getattr(space, "cost", None)
        if callable(cost):
            toolbox.register("cost", cost)  # longest first: workers finish a generation together
        return toolbox


def as_individual(individual: type, genome):
    """``genome`` as an ``individual`` (a creator type), keeping what it carries beside its genes (hyper genes)."""
    converted = individual(genome)
    extra = {k: v for k, v in vars(genome).items() if k != "fitness"} if hasattr(genome, "__dict__") else {}
    converted.__dict__.update(extra)
    return converted


def individual_type(genome_class: type, weights=(1.0,)) -> type:
    """The ``creator`` individual type for ``genome_class`` with fitness ``weights``, made once.

    Named after the class and the weights (``CnnGa_Genome_p``), so every
    process that asks makes the same type; since DEAP 1.4 a creator type
    also pickles as the call that re-creates it, so workers need not import
    anything first.
    """
    signs = "".join("p" if w > 0 else "m" for w in weights)
    fitness_name = f"Fitness_{signs}"
    name = f"{genome_class.__name__}Individual_{signs}"
    if not hasattr(creator, fitness_name):
        creator.create(fitness_name, base.Fitness, weights=tuple(float(w) for w in weights))
    if not hasattr(creator, name):
        creator.create(name, genome_class, fitness=getattr(creator, fitness_name))
    return getattr(creator, name)


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family, replace: bool = False) -> Family:
    """Make ``family`` available by name to :func:`get_family`, the strategies and ``deap-cnn --family``."""
    if not isinstance(family, Family):
        raise FamilyError(f"register a deap_cnn.families.Family, got {type(family).__name__}")
    if family.name in _FAMILIES and not replace and _FAMILIES[family.name] is not family:
        raise FamilyError(f"a family named {family.name!r} is registered already; pass replace=True to replace it")
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The registered family called ``name``; the error lists the names there are."""
    if isinstance(name, Family):
        return name
    try:
        return _FAMILIES[name]
    except KeyError:
        raise FamilyError(f"unknown family {name!r}: choose one of {', '.join(family_names())}") from None


def family_names() -> list[str]:
    """Names of the registered families, built-in ones first."""
    return list(_FAMILIES)
