"""The cell as numbers: one-hot per edge for surrogate models, and as Optuna parameters for TPE."""

from __future__ import annotations

from .genome import EDGES, CellGenome

__all__ = ["encode_cell", "suggest_cell"]


def encode_cell(genome, space) -> list:
    """One-hot of each edge's operation over ``space.operations``: ``6 x len(operations)`` zeros and ones."""
    vector = []
    for op in genome:
        vector.extend(1.0 if op == allowed else 0.0 for allowed in space.operations)
    return vector


def suggest_cell(trial, space) -> CellGenome:
    """Ask an Optuna ``trial`` for a cell: one categorical parameter per edge, ``edge_<to>_<from>``."""
    return CellGenome(trial.suggest_categorical(f"edge_{to}_{source}", list(space.operations)) for to, source in EDGES)
