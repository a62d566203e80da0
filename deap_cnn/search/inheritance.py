"""Weight inheritance, search side (torch-free): which parent a child inherits from, and a bounded weights folder.

After Real et al. 2017 ("Large-Scale Evolution of Image Classifiers"): a
child made by variation starts from its parent's trained weights for every
layer whose position and shape it keeps (the copying itself is
:func:`deap_cnn.training.inheritance.inherit`, run by the evaluator).

Which parent:

- a child of mutation only inherits from the individual it was cloned from
  (the mutated parent);
- a child of crossover inherits from the parent whose genes its first part
  came from: with DEAP's convention ``mate(first, second)`` the first child
  begins with ``first``'s genes and the second with ``second``'s, so each child
  inherits from the parent it was cloned from, mutated afterwards or not.

A parent whose weights are not in the folder (a cache hit whose weights were
deleted, a failed training) leaves the child to train from scratch: the child
then carries no ``parent`` and its evaluation key is its plain genome.
"""

from __future__ import annotations

import os

from ..training.lineage import weights_key, weights_path

__all__ = ["WeightsFolder", "set_parent"]


class WeightsFolder:
    """The run's ``weights/`` folder: one ``<weights key>.pt`` per trained candidate still of use.

    Workers write into it (the evaluator's ``weights_dir``); only the main
    process deletes, through :meth:`keep_only`.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        os.makedirs(self.path, exist_ok=True)

    def __repr__(self):
        return f"WeightsFolder({self.path!r})"

    def has(self, individual) -> bool:
        """Whether ``individual``'s trained weights are in the folder."""
        return os.path.exists(weights_path(self.path, weights_key(individual)))

    def keys(self) -> set:
        """The weights keys present (temporary files of writes under way are not counted)."""
        return {name[:-3] for name in os.listdir(self.path) if name.endswith(".pt") and not name.startswith(".")}

    def keep_only(self, members, in_flight=()):
        """Delete every weights file but those of ``members``, of ``in_flight`` and of their parents.

        The parents of individuals still training must stay: their workers
        may not have read them yet. Returns the keys deleted.
        """
        keep = {weights_key(ind) for ind in list(members) + list(in_flight)}
        keep |= {ind.parent for ind in in_flight if getattr(ind, "parent", None)}
        gone = sorted(self.keys() - keep)
        for key in gone:
            try:
                os.unlink(weights_path(self.path, key))
            except FileNotFoundError:
                pass
        return gone


def set_parent(child, parent, folder: WeightsFolder):
    """Make ``child`` inherit ``parent``'s trained weights when the folder holds them, else train from scratch."""
    child.parent = weights_key(parent) if folder.has(parent) else None
    return child
