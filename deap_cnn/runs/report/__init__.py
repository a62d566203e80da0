"""A run's report: one self-contained HTML page, written to the run folder or served live.

``python -m deap_cnn.runs.report RUN`` writes ``RUN/report.html``; with
``--serve`` it serves the page on 127.0.0.1 and re-renders it whenever the
run's files change, so a running search can be watched in a browser. The
page needs no network: its style, script and charts (inline SVG drawn here)
are all inside it, and it prints legibly to PDF.

It reads whatever the folder holds and says what it lacks, so finished,
failed, interrupted and still-running runs all render:

- ``config.json``: the settings (a flat JSON object); else the store's ``settings`` table;
- ``status.json``: ``state`` (running, finished, interrupted or failed),
  ``message``, ``resume`` (the command that continues the run), ``updated``
  (unix time), ``family``, ``strategy``, ``objectives``; every key optional;
- ``logbook.csv``: statistics per generation (else computed from the store);
- ``results.sqlite``: the evaluations and the Pareto front (:mod:`deap_cnn.runs.store`),
  opened read-only, briefly, so the run writing it never waits on the report.

Nothing here imports torch (nor the rest of the package): a report can be
made on a machine that only has the run folder.
"""

from .cli import main
from .page import render_html, write_report
from .run_data import (
    REPORT_NAME,
    ReportError,
    RunData,
    best_evaluation,
    failure_groups,
    gene_values,
    is_run_folder,
    non_dominated,
    read_run,
)
from .server import ReportServer, serve
from .units import genome_units

__all__ = [
    "REPORT_NAME",
    "ReportError",
    "ReportServer",
    "RunData",
    "best_evaluation",
    "failure_groups",
    "gene_values",
    "genome_units",
    "is_run_folder",
    "main",
    "non_dominated",
    "read_run",
    "render_html",
    "serve",
    "write_report",
]
