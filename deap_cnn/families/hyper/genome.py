"""A family's genome plus hyperparameter genes: the combined class, space and operators."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..base import GenomeError, GenomeRules, SearchSpaceError
from ..cnn_ga.genome import Genome
from ..cnn_ga.operators import random_genome
from ..cnn_ga.space import NETWORK_BUILDER
from ..devol.genome import DevolGenome
from .genes import (
    HyperParams,
    HyperSpace,
    crossover_hyper,
    mutable_genes,
    mutate_hyper,
    random_hyper,
)

__all__ = [
    "split_text",
    "HyperGenomeMixin",
    "hyper_genome_class",
    "HyperCnnGenome",
    "HyperDevolGenome",
    "HyperSearchSpace",
    "init_arch_hyper",
    "cx_hyper",
    "mut_hyper",
    "cx_arch_hyper",
    "mut_arch_hyper",
]


def split_text(text: str) -> tuple[str, str]:
    """``(architecture text, hyperparameter text)`` of a combined genome's text."""
    if not isinstance(text, str) or "|" not in text:
        raise GenomeError(
            f"a genome with hyperparameter genes reads '<architecture>|<hyperparameters>', e.g. "
            f"'S64-Pmax-S128|{HyperParams()}', got {text!r}"
        )
    arch, _, hyper = text.strip().rpartition("|")
    return arch, hyper


class HyperGenomeMixin:
    """What :func:`hyper_genome_class` adds to an architecture genome class.

    ``hyper`` holds a :class:`HyperParams`. Equality needs an equal architecture
    *and* equal hyper genes (DEAP's hall of fame tells individuals apart with
    ``==``). Copies and pickles keep ``hyper``: it lives in the instance
    dictionary, which ``copy.deepcopy`` (DEAP's ``toolbox.clone``) and
    ``pickle`` both carry.
    """

    _arch_class = None  # set by hyper_genome_class
    _arch_parse = None

    def __init__(self, genes=(), hyper=None, **arch_options):
        super().__init__(genes, **arch_options)
        if hyper is None:
            hyper = HyperParams()
        elif isinstance(hyper, str):
            hyper = HyperParams.from_string(hyper)
        elif isinstance(hyper, dict):
            hyper = HyperParams(**hyper)
        elif not isinstance(hyper, HyperParams):
            raise GenomeError(f"hyper must be HyperParams, its text or a dict of genes, got {hyper!r}")
        self.hyper = hyper

    @classmethod
    def from_string(cls, text: str):
        """Parse ``'<architecture text>|<hyperparameter text>'``."""
        arch_text, hyper_text = split_text(text)
        return cls._from_parts(cls._arch_parse(arch_text), HyperParams.from_string(hyper_text))

    @classmethod
    def _from_parts(cls, arch, hyper):
        return cls(arch, hyper)

    @property
    def arch_text(self) -> str:
        """The architecture's own canonical text."""
        return super().__str__()

    def __str__(self):
        return f"{super().__str__()}|{self.hyper}"

    def __repr__(self):
        return f"{type(self).__name__}.from_string({str(self)!r})"

    def __eq__(self, other):
        same = super().__eq__(other)
        if same is NotImplemented or not same:
            return same
        return getattr(other, "hyper", None) == self.hyper

    def __ne__(self, other):
        same = self.__eq__(other)
        return same if same is NotImplemented else not same

    __hash__ = None

    def training_overrides(self) -> dict:
        """Training settings for the evaluator: the architecture family's own, then the hyper genes'.

        Where both set a field (DEvol's optimiser gene), the hyper gene wins.
        """
        own = getattr(super(), "training_overrides", None)
        overrides = dict(own()) if own is not None else {}
        overrides.update(self.hyper.training_overrides())
        return overrides

    def network_options(self) -> dict:
        """Network options from the genes (a hyper builder passes them on)."""
        return self.hyper.network_options()


def hyper_genome_class(arch_class, name=None, parse=None, module=None):
    """A subclass of ``arch_class`` whose instances also carry hyperparameter genes.

    Parameters
    ----------
    arch_class:
        The architecture family's genome class (e.g. :class:`deap_cnn.Genome`);
        its constructor takes the genes as first argument.
    name:
        The new class's name (default ``"Hyper" + arch_class.__name__``).
        Pickling (checkpoints, SCOOP) finds the class by ``module`` and
        ``name``: bind the result to that name at the top level of that module.
    parse:
        ``parse(text) -> architecture genome`` (default ``arch_class.from_string``).
    module:
        The module the class is bound in (default: this one).
    """
    name = name or f"Hyper{arch_class.__name__}"
    parser = parse if parse is not None else arch_class.from_string
    namespace = {
        "__module__": module or __name__,
        "__qualname__": name,
        "__doc__": f"A {arch_class.__name__} with hyperparameter genes in ``hyper``.",
        "_arch_class": arch_class,
        "_arch_parse": staticmethod(parser),
    }
    return type(name, (HyperGenomeMixin, arch_class), namespace)


#: CNN-GA's genome with hyperparameter genes: ``creator.create("I", HyperCnnGenome, fitness=...)``.
HyperCnnGenome = hyper_genome_class(Genome, name="HyperCnnGenome")

#: DEvol's genome with hyperparameter genes (its own optimiser gene gives way to the hyper one).
HyperDevolGenome = hyper_genome_class(DevolGenome, name="HyperDevolGenome")


@dataclass(frozen=True)
class HyperSearchSpace(GenomeRules):
    """An architecture family's space and a :class:`HyperSpace`, checked together.

    Parameters
    ----------
    arch:
        The architecture family's space (``SearchSpace`` for CNN-GA); it must
        offer ``validate`` (and ideally ``violations``), ``input_shape`` and ``n_classes``.
    hyper:
        The :class:`HyperSpace`.
    genome_class:
        The class text parses into (default :class:`HyperCnnGenome`); a class
        from :func:`hyper_genome_class`.

    Notes
    -----
    ``input_shape`` and ``n_classes`` are the architecture space's, so an
    :class:`~deap_cnn.training.evaluator.Evaluator` takes this space as it is.
    """

    arch: object
    hyper: HyperSpace = HyperSpace()
    genome_class: type = HyperCnnGenome

    @property
    def network_builder(self):
        """CNN-GA with hyper genes has a default builder; other families pass ``HyperBuilder(their builder)``."""
        if getattr(self.arch, "network_builder", None) == NETWORK_BUILDER:
            return "deap_cnn.families.hyper.network:build_hyper_network"
        return None

    def __post_init__(self):
        if not isinstance(self.hyper, HyperSpace):
            raise SearchSpaceError(f"hyper must be a HyperSpace, got {self.hyper!r}")
        if not (isinstance(self.genome_class, type) and issubclass(self.genome_class, HyperGenomeMixin)):
            raise SearchSpaceError(
                f"genome_class must be a class made by hyper_genome_class(), got {self.genome_class!r}"
            )
        for attribute in ("validate", "input_shape", "n_classes"):
            if not hasattr(self.arch, attribute):
                raise SearchSpaceError(f"the architecture space {self.arch!r} has no {attribute!r}")

    @property
    def input_shape(self) -> tuple:
        return self.arch.input_shape

    @property
    def n_classes(self) -> int:
        return self.arch.n_classes

    @property
    def in_channels(self) -> int:
        return self.arch.input_shape[0]

    def _arch_violations(self, genome) -> list[str]:
        violations = getattr(self.arch, "violations", None)
        if violations is not None:
            return list(violations(genome))
        try:
            self.arch.validate(genome)
        except ValueError as error:
            return [str(error)]
        return []

    def violations(self, genome) -> list[str]:
        """Every rule the genome breaks, architecture rules first."""
        hyper = getattr(genome, "hyper", None)
        problems = self._arch_violations(genome)
        if hyper is None:
            problems.append("rule 'hyper genes': the genome carries no hyperparameter genes (no .hyper)")
        else:
            problems += self.hyper.violations(hyper)
        return problems


def init_arch_hyper(container, space: HyperSearchSpace, arch_init=random_genome, rng=random):
    """A random individual of type ``container``: ``arch_init(space.arch, rng)`` genes plus random hyper genes.

    ``arch_init`` is the family's random-genes function (CNN-GA's
    :func:`~deap_cnn.random_genome` by default).
    """
    genes = arch_init(space.arch, rng)
    return container(genes, random_hyper(space.hyper, rng))


def cx_hyper(ind1, ind2, space=None, rng=random, indpb=0.5):
    """Uniform crossover of the two individuals' hyper genes, in place; the architectures stay."""
    ind1.hyper, ind2.hyper = crossover_hyper(ind1.hyper, ind2.hyper, rng, indpb)
    return ind1, ind2


def mut_hyper(individual, space, rng=random):
    """Mutate one of the individual's hyper genes in place (:func:`mutate_hyper`).

    ``space`` is a :class:`HyperSpace` or a :class:`HyperSearchSpace`.
    """
    hyper_space = space.hyper if isinstance(space, HyperSearchSpace) else space
    individual.hyper = mutate_hyper(individual.hyper, hyper_space, rng)
    return (individual,)


def cx_arch_hyper(ind1, ind2, space: HyperSearchSpace, arch_mate, rng=random, indpb=0.5):
    """The family's crossover on the architectures, then uniform crossover of the hyper genes.

    ``arch_mate(ind1, ind2, space=space.arch, rng=rng)`` is the family's
    operator (CNN-GA: :func:`~deap_cnn.cx_one_point`). In place; returns the pair.
    """
    arch_mate(ind1, ind2, space=space.arch, rng=rng)
    return cx_hyper(ind1, ind2, space, rng, indpb)


def mut_arch_hyper(individual, space: HyperSearchSpace, arch_mutate, rng=random, hyper_prob=0.5):
    """Mutate the architecture (the family's ``arch_mutate``) or one hyper gene.

    With probability ``hyper_prob`` a hyper gene changes (:func:`mutate_hyper`),
    otherwise ``arch_mutate(individual, space=space.arch, rng=rng)`` runs
    (CNN-GA: :func:`~deap_cnn.mut_cnn_ga`). When no hyper gene can change
    the architecture mutates, and the other way round when the family's
    mutation leaves the genome as it was. In place; returns a 1-tuple.
    """
    if not 0 <= hyper_prob <= 1:
        raise ValueError(f"hyper_prob must be in [0, 1], got {hyper_prob!r}")
    can_hyper = bool(mutable_genes(individual.hyper, space.hyper))
    if can_hyper and rng.random() < hyper_prob:
        return mut_hyper(individual, space, rng)
    before = list(individual)
    arch_mutate(individual, space=space.arch, rng=rng)
    if list(individual) == before and can_hyper:
        mut_hyper(individual, space, rng)
    return (individual,)
