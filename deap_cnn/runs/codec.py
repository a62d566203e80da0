"""The checkpoint encoding moved to :mod:`deap_cnn.search.codec`; this module re-exports all of it."""

from ..search import codec as _moved

globals().update({name: value for name, value in vars(_moved).items() if not name.startswith("__")})
__all__ = _moved.__all__
