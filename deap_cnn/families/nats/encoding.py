"""The cell as numbers: one-hot per edge for surrogate models, and as Optuna parameters for TPE."""

from __future__ import annotations

from ..base import one_hot
from .genome import EDGES, CellGenome

__all__ = ["encode_cell", "suggest_cell"]


def encode_cell(genome, space) -> list:
    """One-hot of each edge's operation over ``space.operations``: ``6 x len(operations)`` zeros and ones."""
    return [bit for op in genome for bit in one_hot(op, space.operations)]


def suggest_cell(trial, space) -> CellGenome:
    """Ask an Optuna ``trial`` for a cell: one categorical parameter per edge, ``edge_<to>_<from>``."""
    return CellGenome(trial.suggest_categorical(f"edge_{to}_{source}", list(space.operations)) for to, source in EDGES)
