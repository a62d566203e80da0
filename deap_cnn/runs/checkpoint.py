"""Checkpoints moved to :mod:`deap_cnn.search.checkpoint`: the search saves and resumes its own state.

This module re-exports all of it, so that ``deap_cnn.runs.checkpoint`` imports keep working.
"""

from ..search import checkpoint as _moved

globals().update({name: value for name, value in vars(_moved).items() if not name.startswith("__")})
__all__ = _moved.__all__
