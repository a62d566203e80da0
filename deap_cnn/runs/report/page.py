"""The report page: its sections, inline CSS and script, :func:`render_html` and the atomic :func:`write_report`."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from pathlib import Path

from .charts import (
    _clip,
    _e,
    _fmt,
    curves_chart,
    genome_diagram,
    line_chart,
    scatter_chart,
    sparkline,
)
from .palette import BLUE, GREY, GRID, INK, MUTED, ORANGE, RED
from .run_data import (
    REPORT_NAME,
    RUN_FILES,
    RunData,
    _as_float,
    _first,
    best_evaluation,
    failure_groups,
    gene_values,
    generation_series,
    minimised,
    pareto_points,
    read_run,
)

__all__ = ["render_html", "write_report"]

#: Seconds between refreshes of a served page while its run is running.
REFRESH_SECONDS = 5


def render_html(run_dir, live=False) -> str:
    """The report page of a run folder as a string; ``live`` adds the self-refresh of :func:`serve`."""
    run = read_run(run_dir)
    best = best_evaluation(run.evaluations, run.best.get("genome"), run.sign)
    sections = [
        ("Status", _status_section),
        ("Settings", _settings_section),
        ("Fitness per generation", _fitness_section),
        ("Best architecture", lambda r: _best_section(r, best)),
        ("Validation curves", lambda r: _curves_section(r, best)),
        ("Pareto front", _front_section),
        ("Genes against fitness", _genes_section),
        ("Failures", _failures_section),
        ("Evaluations", lambda r: _evaluations_section(r, best)),
    ]
    body = "".join(_section(title, draw, run) for title, draw in sections)
    title = f"Run report: {run.folder.resolve().name}"
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    live_flag = ' data-live="1"' if live else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body data-state="{_e(run.state)}"{live_flag}>'
        f'<main><header><h1>{_e(title)}</h1><p class="muted">{_e(run.folder.resolve())} · '
        f"report made {generated}{' · refreshes while the run is running' if live else ''}</p></header>"
        f"{body}</main><script>{_SCRIPT}</script></body></html>\n"
    )


def _section(title: str, draw, run: RunData) -> str:
    """One ``<section>``; a section that cannot be drawn says why instead of breaking the page."""
    try:
        content = draw(run)
    except Exception as error:  # noqa: BLE001 - a partial or odd folder must still give a page
        content = f'<p class="problem">This part could not be drawn: {_e(type(error).__name__)}: {_e(error)}</p>'
    if not content:
        return ""
    anchor = re.sub(r"[^a-z]+", "-", title.lower()).strip("-")
    return f'<section id="section-{anchor}"><h2>{_e(title)}</h2>{content}</section>'


def _status_section(run: RunData) -> str:
    state = run.state
    parts = [f'<p><span class="state state-{_e(state)}">{_e(state)}</span>']
    if run.status.get("message"):
        parts.append(f" {_e(run.status['message'])}")
    parts.append("</p>")
    updated = _as_float(run.status.get("updated"))
    facts = []
    if updated is not None:
        ago = max(0.0, time.time() - updated)
        facts.append(
            (
                "updated",
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(updated))} ({_ago(ago)} ago)",
            )
        )
    for key in ("family", "strategy"):
        if run.status.get(key):
            facts.append((key, run.status[key]))
    if run.objectives:
        facts.append(("objectives", ", ".join(f"{n} ({d}d)" for n, d in zip(run.objectives, run.directions))))
    ok = sum(row["status"] == "ok" for row in run.evaluations)
    facts.append(
        (
            "evaluations",
            f"{len(run.evaluations)} ({ok} ok, {len(run.evaluations) - ok} failed)",
        )
    )
    parts.append(_key_values(facts))
    resume = run.status.get("resume")
    if resume:
        emphasis = state in ("interrupted", "failed")
        parts.append(
            f'<div class="resume{" urgent" if emphasis else ""}"><p>'
            f"{'Continue this run with:' if emphasis else 'Resume command:'}</p><pre>{_e(resume)}</pre></div>"
        )
    if not run.status:
        parts.append(
            '<p class="muted">No status.json: whether the run is still going is unknown.</p>'
        )
    if run.missing:
        items = "".join(
            f"<li><code>{_e(name)}</code>: {_e(RUN_FILES[name])}</li>"
            for name in run.missing
        )
        parts.append(
            f'<p>Missing from the folder, so not shown:</p><ul class="missing">{items}</ul>'
        )
    for problem in run.problems:
        parts.append(f'<p class="problem">{_e(problem)}</p>')
    files = ", ".join(
        f"{_e(name)} ({_e(_size(size))})"
        for name, size in run.files.items()
        if name != REPORT_NAME
    )
    parts.append(f'<p class="muted">Files: {files or "none"}</p>')
    return "".join(parts)


def _ago(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f} {unit}"
    return f"{seconds:.0f} s"


def _size(size: int) -> str:
    for unit, length in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= length:
            return f"{size / length:.1f} {unit}"
    return f"{size} B"


def _key_values(pairs) -> str:
    rows = "".join(
        f"<tr><th>{_e(key)}</th><td>{_e(_plain(value))}</td></tr>"
        for key, value in pairs
    )
    return f'<table class="facts">{rows}</table>'


def _plain(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _fmt(value) if abs(value) >= 1e4 else f"{value:g}"
    return json.dumps(value, default=str)


def _settings_section(run: RunData) -> str:
    if not run.config:
        return '<p class="muted">No settings: config.json is missing and the store holds none.</p>'
    parts = [
        f'<p class="muted">From {_e(run.config_source)}.</p>',
        _key_values(sorted(run.config.items())),
    ]
    if run.best:
        parts.append("<h3>Result (best.json)</h3>" + _key_values(run.best.items()))
    return "".join(parts)


def _fitness_section(run: RunData) -> str:
    source, xs, series = generation_series(run)
    if not series:
        return '<p class="muted">Nothing to plot yet: no logbook.csv and no scored evaluations with a generation.</p>'
    note = (
        ""
        if source == "logbook.csv"
        else " (no logbook.csv: computed from the evaluations in the store)"
    )
    return f'<p class="muted">From {_e(source)}{_e(note)}.</p>' + line_chart(
        xs, series, "generation", "fitness"
    )


def _best_section(run: RunData, best) -> str:
    genome = best["genome"] if best else str(run.best.get("genome") or "")
    if not genome and run.front:
        genome = run.front[0]["genome"]
    if not genome:
        return '<p class="muted">No architecture has been scored yet.</p>'
    facts = [("genome", genome)]
    if best:
        facts += [
            ("fitness", _fitness_text(best)),
            ("parameters", best.get("parameters")),
            ("generation", best.get("generation")),
        ]
    facts = [(key, value) for key, value in facts if value is not None]
    return genome_diagram(genome) + _key_values(facts)


def _curves_section(run: RunData, best) -> str:
    if not any(row["curve"] for row in run.evaluations):
        return ""
    return (
        '<p class="muted">Validation accuracy after each epoch, one line per candidate; hover for the genome.</p>'
        + curves_chart(run.evaluations, best)
    )


def _front_section(run: RunData) -> str:
    names, points, front = pareto_points(run)
    if not front and not points:
        return ""
    x_name, y_name = (
        (names[1], names[0]) if len(names) > 1 else ("objective 2", "objective 1")
    )
    shown = {genome for genome, _ in front}
    others = [
        (v[1], v[0], f"{g}: {_values_text(v)}") for g, v in points if g not in shown
    ]
    highlight = [(v[1], v[0], f"{g}: {_values_text(v)}") for g, v in front]
    source = (
        "the store's pareto_front table"
        if run.front
        else "the non-dominated evaluations"
    )
    note = f"; showing {y_name} against {x_name}" if len(names) > 2 else ""
    chart = scatter_chart(
        others,
        _direction(x_name, 1),
        _direction(y_name, 0),
        highlight,
        log_x=True,
        staircase=True,
    )
    rows = "".join(
        f"<tr><td><code>{_e(g)}</code></td>"
        + "".join(f"<td>{_e(_fmt(v))}</td>" for v in values)
        + "</tr>"
        for g, values in front
    )
    head = "".join(f"<th>{_e(name)}</th>" for name in names)
    return (
        f'<p class="muted">Front ({len(front)} members, red) from {_e(source)}{_e(note)}; '
        f"blue: other evaluated candidates.</p>{chart}"
        f'<table class="plain"><thead><tr><th>genome</th>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


def _direction(name: str, index: int) -> str:
    return f"{name} ({'minimised' if minimised(name, index) else 'maximised'})"


def _values_text(values) -> str:
    return ", ".join(_fmt(v) for v in values)


def _genes_section(run: RunData) -> str:
    scored = []
    for row in run.evaluations:
        genes, value = gene_values(row["genome"]), _first(row["fitness_values"])
        if genes and value is not None and row["status"] == "ok":
            scored.append((row["genome"], genes, value))
    if not scored:
        return ""
    names = list(dict.fromkeys(name for _, genes, _ in scored for name in genes))
    charts = [_gene_chart(name, scored) for name in names]
    return (
        '<p class="muted">One point per scored candidate; hover for the genome.</p><div class="grid">'
        + "".join(charts)
        + "</div>"
    )


def _gene_chart(name: str, scored) -> str:
    values = [
        (genes[name], fitness, genome)
        for genome, genes, fitness in scored
        if name in genes
    ]
    if all(isinstance(v, float) for v, _, _ in values):
        points = [
            (v, fitness, f"{genome}: {fitness:.4g}") for v, fitness, genome in values
        ]
        spread = [v for v, _, _ in values if v > 0]
        return scatter_chart(
            points, name, "fitness", log_x=len(spread) == len(values), small=True
        )
    categories = sorted({str(v) for v, _, _ in values})
    points = [
        (categories.index(str(v)), fitness, f"{genome}: {fitness:.4g}")
        for v, fitness, genome in values
    ]
    return scatter_chart(points, name, "fitness", categories=categories)


def _failures_section(run: RunData) -> str:
    groups = failure_groups(run.evaluations)
    if not groups:
        return '<p class="muted">No failed evaluations.</p>' if run.evaluations else ""
    parts = []
    for status, cause, rows in groups:
        genomes = "".join(f"<li><code>{_e(row['genome'])}</code></li>" for row in rows)
        parts.append(
            f'<div class="failure"><p><span class="state state-failed">{_e(status)}</span> '
            f'<strong class="count">{len(rows)}</strong> × <code>{_e(cause)}</code></p><ul>{genomes}</ul></div>'
        )
    return "".join(parts)


def _evaluation_columns():
    """The evaluation table's columns: ``(title, row -> (sort key or None, cell HTML))``."""
    return [
        ("#", lambda r: (r.get("id"), _e(r.get("id", "")))),
        ("genome", lambda r: (r["genome"], f"<code>{_e(r['genome'])}</code>")),
        (
            "fitness",
            lambda r: (
                _first(r["fitness_values"]) if r["fitness_values"] else None,
                _e(_fitness_text(r)),
            ),
        ),
        (
            "validation curve",
            lambda r: (
                r["curve"][-1] if r["curve"] else None,
                sparkline(r["curve"]) or "–",
            ),
        ),
        ("parameters", lambda r: _number_cell(r.get("parameters"))),
        ("FLOPs", lambda r: _number_cell(r.get("flops"))),
        ("seconds", lambda r: _number_cell(r.get("seconds"), "{:.1f}")),
        ("epochs", lambda r: _number_cell(r.get("epochs"), "{:.0f}")),
        (
            "status",
            lambda r: (
                r["status"],
                f'<span class="state state-{"ok" if r["status"] == "ok" else "failed"}">{_e(r["status"])}</span>',
            ),
        ),
        (
            "error",
            lambda r: (r.get("error") or "", _e(_clip(str(r.get("error") or ""), 160))),
        ),
        ("worker", lambda r: (r.get("worker") or "", _e(r.get("worker") or ""))),
        ("generation", lambda r: _number_cell(r.get("generation"), "{:.0f}")),
    ]


def _fitness_text(row) -> str:
    values = row["fitness_values"]
    if values is None:
        return str(row.get("fitness") or "")
    return ", ".join(_fitness_value(v) for v in values)


def _fitness_value(value: float) -> str:
    """Accuracies with four decimals, counts (parameters, FLOPs) as whole numbers."""
    if math.isfinite(value) and value == int(value) and abs(value) >= 10:
        return f"{value:.0f}" if abs(value) < 1e6 else _fmt(value)
    return f"{value:.4f}"


def _number_cell(value, pattern=None):
    number = _as_float(value) if not isinstance(value, bool) else None
    if number is None:
        return None, _e(value if value is not None else "")
    return number, _e(pattern.format(number) if pattern else _fmt(number))


def _evaluations_section(run: RunData, best) -> str:
    if not run.evaluations:
        reason = (
            "results.sqlite is missing"
            if "results.sqlite" in run.missing
            else "the store holds none yet"
        )
        return f'<p class="muted">No evaluations: {_e(reason)}.</p>'
    columns = _evaluation_columns()
    head = "".join(
        f'<th scope="col" data-column="{n}" tabindex="0">{_e(name)}</th>'
        for n, (name, _) in enumerate(columns)
    )
    rows = []
    for row in run.evaluations:
        cells = []
        for _, read in columns:
            key, content = read(row)
            sort = "" if key is None else f' data-sort="{_e(key)}"'
            cells.append(f"<td{sort}>{content}</td>")
        classes = (
            "evaluation"
            + ("" if row["status"] == "ok" else " failed")
            + (" best" if row is best else "")
        )
        rows.append(f'<tr class="{classes}">{"".join(cells)}</tr>')
    return (
        '<p class="controls"><label>Filter <input type="search" id="evaluation-filter" '
        'placeholder="genome, status, error, worker…" autocomplete="off"></label> '
        f'<span id="evaluation-count" class="muted">{len(rows)} evaluations</span> '
        '<span class="muted">· click a column title to sort</span></p>'
        f'<div class="table-wrap"><table id="evaluations"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


_CSS = f"""
:root {{ color-scheme: light; }}
body {{ margin: 0; background: #f6f7f9; color: {INK};
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }}
main {{ max-width: 1200px; margin: 0 auto; padding: 18px 22px 40px; }}
h1 {{ font-size: 1.5rem; margin: 0 0 2px; }}
h2 {{ font-size: 1.15rem; margin: 0 0 10px; border-bottom: 1px solid {GRID}; padding-bottom: 4px; }}
h3 {{ font-size: 1rem; margin: 14px 0 6px; }}
section {{ background: white; border: 1px solid {GRID}; border-radius: 8px; padding: 14px 18px; margin: 14px 0; }}
code, pre {{ font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.86em; }}
code {{ word-break: break-all; }}
.muted {{ color: {MUTED}; }}
.problem {{ color: {RED}; }}
.state {{ display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600; font-size: 0.85em;
  background: {GRID}; color: {INK}; }}
.state-running {{ background: #dbeafe; color: #1e40af; }}
.state-finished, .state-ok {{ background: #dcfce7; color: #166534; }}
.state-interrupted {{ background: #fef3c7; color: #92400e; }}
.state-failed {{ background: #fee2e2; color: #991b1b; }}
.resume {{ border-left: 4px solid {BLUE}; padding: 4px 12px; margin: 10px 0; background: #f1f5fe; }}
.resume.urgent {{ border-color: {ORANGE}; background: #fff8eb; }}
.resume p {{ margin: 4px 0; font-weight: 600; }}
.resume pre {{ white-space: pre-wrap; word-break: break-all; margin: 4px 0 6px; user-select: all; }}
table {{ border-collapse: collapse; }}
.facts th {{ text-align: left; font-weight: 600; padding: 2px 16px 2px 0; vertical-align: top; }}
.facts td {{ padding: 2px 0; word-break: break-word; }}
table.plain th, table.plain td, #evaluations th, #evaluations td {{ padding: 5px 8px; border-bottom: 1px solid {GRID};
  text-align: left; vertical-align: middle; }}
.table-wrap {{ overflow-x: auto; }}
#evaluations {{ width: 100%; font-size: 0.9em; }}
#evaluations th {{ background: #eef1f5; cursor: pointer; white-space: nowrap; user-select: none; position: sticky; top: 0; }}
#evaluations th[aria-sort="ascending"]::after {{ content: " ▲"; }}
#evaluations th[aria-sort="descending"]::after {{ content: " ▼"; }}
#evaluations tr.failed td {{ background: #fff5f5; }}
#evaluations tr.best td {{ background: #f0fdf4; }}
#evaluations td:nth-child(2) {{ max-width: 340px; }}
#evaluations td:nth-child(10) {{ max-width: 260px; color: {RED}; font-size: 0.92em; }}
.controls input {{ font: inherit; padding: 4px 8px; width: 22em; border: 1px solid #c5ccd6; border-radius: 6px; }}
svg {{ max-width: 100%; height: auto; font-size: 11px; fill: {INK}; }}
svg.chart text, svg.diagram text {{ fill: {INK}; }}
svg .axis-title {{ font-size: 12px; fill: {MUTED}; }}
svg .unit-title {{ font-size: 13px; font-weight: 600; }}
svg .unit-detail {{ font-size: 10.5px; fill: {MUTED}; }}
svg .muted {{ fill: {MUTED}; }}
svg g.off text {{ fill: {GREY}; }}
svg.spark {{ vertical-align: middle; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.failure ul {{ margin: 2px 0 10px; columns: 2; }}
ul.missing {{ margin-top: 0; }}
@media print {{
  body {{ background: white; font-size: 10pt; }}
  main {{ max-width: none; padding: 0; }}
  section {{ border: none; padding: 0; margin: 0 0 14pt; break-inside: auto; }}
  .controls, #evaluation-filter {{ display: none; }}
  .table-wrap {{ overflow: visible; }}
  #evaluations {{ font-size: 7.5pt; }}
  #evaluations th {{ position: static; }}
  #evaluations tr {{ display: table-row !important; break-inside: avoid; }}
  svg.chart, svg.diagram {{ break-inside: avoid; }}
  h2 {{ break-after: avoid; }}
}}
"""


# Sorting (click or Enter on a column title), filtering, and, on a served page whose
# run is running, swapping in a freshly rendered <main> every few seconds.
_SCRIPT = """
(function () {
  "use strict";
  var sortState = {column: null, descending: false};

  function cellKey(row, column) {
    var cell = row.cells[column];
    var key = cell && cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : null;
    if (key === null || key === "") return {missing: true};
    var number = Number(key);
    return isNaN(number) ? {text: key.toLowerCase()} : {number: number};
  }

  function compare(a, b) {
    if (a.missing || b.missing) return a.missing === b.missing ? 0 : (a.missing ? 1 : -1);
    if (a.number !== undefined && b.number !== undefined) return a.number - b.number;
    var x = a.text !== undefined ? a.text : String(a.number), y = b.text !== undefined ? b.text : String(b.number);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function sortTable(table, column, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var a = cellKey(r, column), b = cellKey(s, column);
      if (a.missing || b.missing) return compare(a, b);  // empty cells last either way
      return descending ? compare(b, a) : compare(a, b);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, n) {
      if (n === column) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    sortState = {column: column, descending: descending};
  }

  function applyFilter(table, text) {
    var words = text.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var haystack = row.textContent.toLowerCase();
      var match = words.every(function (word) { return haystack.indexOf(word) >= 0; });
      row.hidden = !match;
      if (match) shown += 1;
    });
    var count = document.getElementById("evaluation-count");
    if (count) count.textContent = shown + " of " + table.tBodies[0].rows.length + " evaluations";
  }

  function initTable(previous) {
    var table = document.getElementById("evaluations");
    if (!table) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, n) {
      function activate() {
        var descending = sortState.column === n ? !sortState.descending : false;
        sortTable(table, n, descending);
      }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (event) { if (event.key === "Enter") activate(); });
    });
    var filter = document.getElementById("evaluation-filter");
    if (filter) {
      filter.addEventListener("input", function () { applyFilter(table, filter.value); });
      if (previous && previous.filter) { filter.value = previous.filter; applyFilter(table, filter.value); }
    }
    if (previous && previous.column !== null) sortTable(table, previous.column, previous.descending);
  }

  function scheduleRefresh() {
    if (document.body.getAttribute("data-live") !== "1") return;
    if (document.body.getAttribute("data-state") !== "running") return;
    setTimeout(refresh, REFRESH_MS);
  }

  function refresh() {
    fetch(window.location.pathname, {cache: "no-store"}).then(function (response) {
      return response.text();
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, "text/html");
      var main = fresh.querySelector("main");
      if (main) {
        var filter = document.getElementById("evaluation-filter");
        var previous = {filter: filter ? filter.value : "", column: sortState.column, descending: sortState.descending};
        document.querySelector("main").replaceWith(document.importNode(main, true));
        document.body.setAttribute("data-state", fresh.body.getAttribute("data-state") || "unknown");
        initTable(previous);
      }
      scheduleRefresh();
    }).catch(scheduleRefresh);
  }

  initTable(null);
  scheduleRefresh();
})();
""".replace("REFRESH_MS", str(REFRESH_SECONDS * 1000))


def write_report(run_dir, out=None) -> Path:
    """Write the report page (``RUN/report.html`` unless ``out`` names another file); return its path.

    The page is written to a temporary file beside the target and moved into
    place, so a browser (or a second report) never sees half a page.
    """
    page = render_html(run_dir)
    target = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(page)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
