"""The evaluation cache: records of evaluated genomes by canonical text, in memory or in a results store."""

from __future__ import annotations

from ..training.lineage import split_key

__all__ = ["EvaluationCache"]


class EvaluationCache:
    """Records of evaluated architectures, keyed by canonical genome.

    A key is :func:`~deap_cnn.training.lineage.evaluation_key`'s: the genome's
    text, with ``@parent`` appended for a child that inherited its parent's
    weights, so an inherited fitness is never served for a from-scratch one
    or the reverse.

    One cache serves one set of evaluation settings. With a
    :class:`~deap_cnn.runs.store.ResultsStore` behind it, the records persist (and
    are found again after a resume); without, they live in memory. A record
    that arrives for a genome already held (an engine that ran a task twice)
    is dropped and counted in ``duplicates``.
    """

    def __init__(self, store=None):
        self.store = store
        self._memory = {}
        self.duplicates = 0

    def get(self, key: str):
        if key not in self._memory and self.store is not None:
            found = self.store.lookup(*split_key(key))
            if found is not None:
                self._memory[key] = found
        return self._memory.get(key)

    def put(self, key: str, record: dict, generation=None, worker=None) -> bool:
        """Keep ``record`` under ``key``; ``False`` (and counted) when one is held already."""
        if self.get(key) is not None:
            self.duplicates += 1
            return False
        self._memory[key] = record
        if self.store is not None:
            self.store.add(record, generation=generation, worker=worker)
        return True

    def __contains__(self, key):
        return self.get(key) is not None

    def __len__(self):
        return len(self.store) if self.store is not None else len(self._memory)
