"""A run's report: one self-contained HTML page, written to the run folder or served live.

``python -m deap_cnn.runs.report RUN`` writes ``RUN/report.html``; with
``--serve`` it serves the page on 127.0.0.1 and re-renders it whenever the
run's files change, so a running search can be watched in a browser. The
page needs no network: its style, script and charts (inline SVG drawn here)
are all inside it, and it prints legibly to PDF.

The page leads with what it is opened for: the best architecture (diagram,
validation fitness, test accuracy after the final training or, for a
``--lookup`` run, the benchmark table's noise-free score, size) beside
the run's state, its objectives with their directions and, when it stopped
early, the command that resumes it; then the best fitness so far against
evaluations (or summed training time), which never gets worse, for every
strategy; the evaluations table; then validation curves, the Pareto front,
the population per generation (where a population lives on),
hyperparameter genes and failures by cause; the settings last, folded,
those that differ from the defaults first.

Whatever picks a best (the first section, the best so far, the table's
highlight, the validation curves, the population's best, the Pareto front)
follows the run's recorded objective directions (``"maximise"`` or
``"minimise"``; the first objective's for one), else those the built-in
objectives' names imply: :attr:`RunData.directions`, :attr:`RunData.sign`.

It reads whatever the folder holds and says what it lacks, so finished,
failed, interrupted and still-running runs all render:

- ``config.json``: the settings (a flat JSON object); else the store's ``settings`` table;
- ``status.json``: ``state`` (running, finished, interrupted or failed),
  ``message``, ``resume`` (the command that continues the run), ``updated``
  (unix time), ``family``, ``strategy``, ``objectives``, ``directions``; every key optional;
- ``best.json``: the run's pick, its test accuracy and reranking, when it has finished;
- ``logbook.csv``: the population's statistics per generation;
- ``results.sqlite``: the evaluations and the Pareto front (:mod:`deap_cnn.runs.store`),
  opened read-only, briefly, so the run writing it never waits on the report.

The modules: :mod:`.run_data` reads the folder; :mod:`.progress`,
:mod:`.settings`, :mod:`.table`, :mod:`.headline` and :mod:`.sections`
compute what each part of the page shows; :mod:`.charts` and :mod:`.units`
draw; :mod:`.page` renders the Jinja2 templates of ``templates/`` (the page,
one template per section, ``report.css`` and ``report.js``, inlined) and
writes the file; :mod:`.server` serves it live.

Nothing here imports torch: a report can be made on a machine that only
has the run folder and this package.
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
