"""Names of evaluations and of trained weights when children inherit their parent's weights (torch-free).

A child that starts from its parent's trained weights scores differently
from the same genome trained from scratch, so its evaluation is keyed by
genome *and* parent: ``"<genome>@<parent weights key>"``. A from-scratch
evaluation keeps the plain genome text as its key. The weights a candidate
leaves behind are named after a hash of its evaluation key, so a lineage
(the chain of parents) is part of every name.

The search sets ``individual.parent`` (the parent's weights key) after
variation; DEAP individuals pickle their ``__dict__``, so it reaches the
workers with the genome.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["LINEAGE_MARK", "parent_of", "evaluation_key", "split_key", "weights_key", "weights_path"]

#: Separates genome and parent in an evaluation key; no genome text of the bundled families contains it.
LINEAGE_MARK = "@"


def parent_of(genome) -> str:
    """The weights key ``genome`` inherits from (its ``parent`` attribute), or ``""`` when it trains from scratch."""
    return getattr(genome, "parent", None) or ""


def evaluation_key(genome) -> str:
    """What identifies ``genome``'s evaluation: its canonical text, plus ``@parent`` when it inherits."""
    parent = parent_of(genome)
    return f"{genome}{LINEAGE_MARK}{parent}" if parent else str(genome)


def split_key(key: str) -> tuple[str, str]:
    """``(genome text, parent)`` of an evaluation key (parent ``""`` for a from-scratch evaluation)."""
    genome, mark, parent = str(key).rpartition(LINEAGE_MARK)
    return (genome, parent) if mark else (str(key), "")


def weights_key(key_or_genome) -> str:
    """The name of the weights an evaluation leaves behind: a short hash of its evaluation key."""
    key = key_or_genome if isinstance(key_or_genome, str) else evaluation_key(key_or_genome)
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def weights_path(folder, key: str) -> str:
    """Where the weights called ``key`` (a :func:`weights_key`) live in ``folder``."""
    return os.path.join(os.fspath(folder), f"{key}.pt")
