"""The report page: its sections in order, rendered by Jinja2 from the package's templates; :func:`write_report`.

The Python computes what each section shows (:mod:`.headline`,
:mod:`.sections`); ``templates/report.html.j2`` and its section templates
lay it out, with ``report.css`` and ``report.js`` inlined so the page stays
one file that opens from disk, from the live server and prints to PDF.
Autoescaping is on: every value from the run folder is escaped, and only
the charts (SVG the charts module drew, escaping as it went) are marked safe.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from . import palette, sections
from .headline import headline, pick_best
from .progress import best_so_far
from .run_data import REPORT_NAME, read_run

__all__ = ["render_html", "write_report"]

#: Seconds between refreshes of a served page while its run is running.
REFRESH_SECONDS = 5


@dataclass
class Section:
    """One ``<section id="section-KEY">``: its title, the template under ``sections/`` and what it shows.

    ``error`` replaces the content when computing it failed: an odd folder
    loses one section, never the page.
    """

    key: str
    title: str
    template: str
    view: object = None
    error: str = ""


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("deap_cnn.runs.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _asset(name: str) -> Markup:
    """A file of the templates folder (the style, the script), to inline as it is."""
    environment = _environment()
    return Markup(environment.loader.get_source(environment, name)[0])


def render_html(run_dir, live=False) -> str:
    """The report page of a run folder as a string; ``live`` adds the self-refresh of :func:`~deap_cnn.runs.report.server.serve`."""
    run = read_run(run_dir)
    title = f"Run report: {run.folder.resolve().name}"
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            folder=str(run.folder.resolve()),
            generated=time.strftime("%Y-%m-%d %H:%M:%S"),
            live=live,
            refresh_ms=REFRESH_SECONDS * 1000,
            state=run.state,
            palette=_palette(),
            sections=page_sections(run),
            css=_asset("report.css"),
            script=_asset("report.js"),
        )
    )


def page_sections(run) -> list[Section]:
    """The page's sections, in the order a reader wants them: the answer, progress, the evaluations, the rest, settings.

    A section with nothing to show for this run (no Pareto front for one
    objective, no genes for a family without them) is left out.
    """
    genome, best_row = pick_best(run)
    progress = best_so_far(run.evaluations, run.sign)
    first = _section(
        "best-architecture", "Best architecture", "best.html.j2", headline, run, genome, best_row, progress
    )
    if not first.error:
        first.title = first.view.title
    candidates = [
        first,
        _section("best-so-far", "Best so far", "progress.html.j2", sections.progress, run, progress),
        _section("evaluations", "Evaluations", "evaluations.html.j2", sections.evaluations, run, best_row),
        _section("validation-curves", "Validation curves", "curves.html.j2", sections.curves, run, best_row),
        _section("pareto-front", "Pareto front", "front.html.j2", sections.pareto_front, run),
        _section("population", "Population per generation", "population.html.j2", sections.population, run),
        _section("genes-against-fitness", "Genes against fitness", "genes.html.j2", sections.genes, run),
        _section("failures", "Failures", "failures.html.j2", sections.failures, run),
        _section("settings", "Settings", "settings.html.j2", sections.settings, run),
        _section("run-folder", "Run folder", "folder.html.j2", sections.folder, run),
    ]
    return [section for section in candidates if section.error or section.view is not None]


def _section(key: str, title: str, template: str, compute, *arguments) -> Section:
    """A :class:`Section` whose view is ``compute(*arguments)``; a failure becomes the section's message."""
    try:
        return Section(key, title, template, view=compute(*arguments))
    except Exception as error:  # noqa: BLE001 - a partial or odd folder must still give a page
        return Section(key, title, template, error=f"{type(error).__name__}: {error}")


def _palette() -> dict:
    """The palette's colours by CSS custom property name (``INK`` becomes ``--ink``)."""
    return {name.lower(): value for name, value in vars(palette).items() if name.isupper()}


def write_report(run_dir, out=None) -> Path:
    """Write the report page (``RUN/report.html`` unless ``out`` names another file); return its path.

    The page is written to a temporary file beside the target and moved into
    place, so a browser (or a second report) never sees half a page.
    """
    page = render_html(run_dir)
    target = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(page)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
