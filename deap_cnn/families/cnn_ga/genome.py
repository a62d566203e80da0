"""The CNN-GA genome: a variable-length chain of skip units and pooling units.

A genome is a plain :class:`list` of genes, so DEAP can build an individual
type on it (``creator.create("Individual", Genome, fitness=...)``) and every
list operation (slicing, ``insert``, ``del``) works in place. Genes are small
immutable values; the canonical text form ``S64-S128-Pmax-S256`` names a
genome uniquely and is what caches and the results store key on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..base import GenomeError, is_int

__all__ = ["POOL_KINDS", "SkipGene", "PoolGene", "Genome"]

#: Pooling kinds, as CNN-GA names them: max pooling or mean (average) pooling.
POOL_KINDS = ("max", "mean")


@dataclass(frozen=True)
class SkipGene:
    """A skip unit: two 3x3 convolutions with a 1x1 shortcut, ``width`` output maps."""

    width: int

    def __post_init__(self):
        if not is_int(self.width) or self.width < 1:
            raise GenomeError(f"skip unit width must be a positive integer, got {self.width!r}")

    def __str__(self):
        return f"S{self.width}"


@dataclass(frozen=True)
class PoolGene:
    """A 2x2, stride-2 pooling unit; ``kind`` is ``"max"`` or ``"mean"``."""

    kind: str

    def __post_init__(self):
        if self.kind not in POOL_KINDS:
            raise GenomeError(f"pooling kind must be one of {POOL_KINDS}, got {self.kind!r}")

    def __str__(self):
        return f"P{self.kind}"


_GENE_PATTERN = re.compile(r"^(?:S(?P<width>[1-9][0-9]*)|P(?P<kind>[a-z]+))$")


def _parse_gene(token: str):
    match = _GENE_PATTERN.match(token)
    if match is None:
        raise GenomeError(
            f"cannot parse gene {token!r}: expected 'S<width>' (e.g. S64) or "
            f"'P<kind>' with kind in {POOL_KINDS} (e.g. Pmax)"
        )
    if match["width"] is not None:
        return SkipGene(int(match["width"]))
    if match["kind"] not in POOL_KINDS:
        raise GenomeError(f"cannot parse gene {token!r}: pooling kind {match['kind']!r} is not one of {POOL_KINDS}")
    return PoolGene(match["kind"])


class Genome(list):
    """A variable-length sequence of :class:`SkipGene` and :class:`PoolGene`.

    ``str(genome)`` is the canonical text form and :meth:`from_string` reads it
    back: ``Genome.from_string(str(g)) == g`` for every genome ``g``.  The text
    depends on the genes alone (no unit numbering), so two equal architectures
    always share a key.  Whether a genome is *valid* depends on a search space:
    see :meth:`deap_cnn.SearchSpace.validate`.
    """

    __slots__ = ()

    def __init__(self, genes=()):
        genes = list(genes)
        for gene in genes:
            if not isinstance(gene, (SkipGene, PoolGene)):
                raise GenomeError(f"a genome holds SkipGene and PoolGene values, got {gene!r}")
        super().__init__(genes)

    @classmethod
    def from_string(cls, text: str):
        """Parse the canonical form, e.g. ``"S64-S128-Pmax-S256"``."""
        if not isinstance(text, str) or not text.strip():
            raise GenomeError(f"a genome string must be non-empty, like 'S64-Pmax-S128', got {text!r}")
        return cls(_parse_gene(token) for token in text.strip().split("-"))

    def __str__(self):
        return "-".join(str(gene) for gene in self)

    def __repr__(self):
        return f"{type(self).__name__}.from_string({str(self)!r})"

    @property
    def skip_count(self) -> int:
        return sum(isinstance(gene, SkipGene) for gene in self)

    @property
    def pool_count(self) -> int:
        return sum(isinstance(gene, PoolGene) for gene in self)
