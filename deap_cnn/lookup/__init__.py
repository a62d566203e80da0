"""Searching a tabular NAS benchmark: fitness looked up in a table instead of trained.

- :mod:`.table`: :func:`load_table` reads and checks a CSV table of
  architectures and scores (:class:`LookupTable`, :class:`TableError`);
- :mod:`.evaluator`: :class:`LookupEvaluator`, the evaluator contract
  answered by the table, with optional seeded noise (:class:`LookupSettings`);
- :mod:`.nats_bench`: exports the official NATS-Bench file to such a table
  (needs the ``nats_bench`` package: ``pip install deap_cnn[nats]``).

Torch-free.
"""

from .evaluator import LookupEvaluator, LookupSettings
from .table import LookupTable, TableError, load_table

__all__ = ["LookupEvaluator", "LookupSettings", "LookupTable", "TableError", "load_table"]
