"""The run report: the page over hand-made run folders, the command line, and the live server."""

import configparser
import csv
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from deap_cnn.runs.report import (
    ReportError,
    best_evaluation,
    failure_groups,
    gene_values,
    genome_units,
    main,
    non_dominated,
    read_run,
    render_html,
    serve,
    write_report,
)
from deap_cnn.runs.report.formatting import fitness_value
from deap_cnn.runs.report.progress import best_so_far
from deap_cnn.runs.report.run_data import population_series
from deap_cnn.runs.report.settings import settings_view
from deap_cnn.runs.store import ResultsStore

ROOT = Path(__file__).resolve().parent.parent
HYPER = "lr=0.01,wd=0.0005,bs=128,opt=sgd,drop=0.2,act=relu,k=3"


def record(genome, fitness=(0.5,), status="ok", error=None, curve=(0.3, 0.4, 0.5), **extra):
    return {
        "genome": genome,
        "fitness": list(fitness),
        "val_accuracy": list(curve),
        "val_loss": [1.0] * len(curve),
        "parameters": 1234,
        "flops": 56789,
        "seconds": 1.5,
        "epochs": len(curve),
        "status": status,
        "error": error,
        **extra,
    }


def make_run(folder, records=(), status=None, logbook=True, config=True):
    """A run folder as a search leaves it: config.json, logbook.csv, status.json, results.sqlite."""
    folder.mkdir(parents=True, exist_ok=True)
    if config:
        (folder / "config.json").write_text(json.dumps({"population": 2, "generations": 1, "data": "sample"}))
    if logbook:
        (folder / "logbook.csv").write_text(
            "gen,nevals,cache_hits,failed,seconds,eval_seconds,max,min,mean\n"
            "0,2,0,0,1.0,0.9,0.5,0.3,0.4\n1,2,0,0,1.1,1.0,0.6,0.3,0.45\n"
        )
    if status is not None:
        (folder / "status.json").write_text(json.dumps(status))
    if records:
        with ResultsStore(folder / "results.sqlite", fingerprint="f") as store:
            for n, rec in enumerate(records):
                store.add(rec, generation=n % 2, worker=f"w{n % 2}")
    return folder


def evaluation_rows(page):
    return re.findall(r'<tr class="evaluation[^"]*">', page)


def section_keys(page):
    """The page's sections, top to bottom."""
    return re.findall(r'<section id="section-([a-z-]+)">', page)


def section(page, key):
    """The HTML of one section (empty if the page has none)."""
    parts = page.split(f'<section id="section-{key}">')
    return parts[1].split("</section>")[0] if len(parts) > 1 else ""


def column_titles(page):
    return re.findall(r'<th scope="col" class="col-([a-z-]+)"', page)


def best_row_ids(page):
    """The ids of the evaluations table's rows marked as the run's best."""
    return re.findall(r'<tr class="evaluation[^"]*\bbest\b[^"]*">\s*<td class="col-id" data-sort="(\d+)', page)


def test_one_row_per_evaluation(tmp_path):
    run = make_run(tmp_path / "run", [record("S4-Pmax-S8"), record("S8", (0.7,)), record("S4-S4", (0.2,))])
    path = write_report(run)
    assert path == run / "report.html"
    page = path.read_text()
    assert len(evaluation_rows(page)) == 3
    assert 'id="evaluations"' in page
    assert "<svg" in page and "<polyline" in page  # fitness chart, sparklines, curves
    assert not list(run.glob(".report.html.*"))  # the temporary file was moved into place


def test_failures_are_grouped_by_cause(tmp_path):
    records = [
        record("S4", (0.0,), "oom", "CUDA out of memory\nTraceback ..."),
        record("S8", (0.0,), "oom", "CUDA out of memory\nother details"),
        record("S16", (0.0,), "failed", "ValueError: bad shape"),
        record("S32", (0.6,)),
    ]
    run = make_run(tmp_path / "run", records)
    groups = failure_groups(read_run(run).evaluations)
    assert [(status, cause, len(rows)) for status, cause, rows in groups] == [
        ("oom", "CUDA out of memory", 2),
        ("failed", "ValueError: bad shape", 1),
    ]
    section = render_html(run).split('id="section-failures"')[1].split("</section>")[0]
    assert "CUDA out of memory" in section and "S16" in section and "Traceback" not in section


def test_folder_with_only_config_renders(tmp_path):
    run = make_run(tmp_path / "run", logbook=False)
    page = write_report(run).read_text()
    assert "Missing from the folder" in page
    for name in ("results.sqlite", "logbook.csv", "status.json"):
        assert name in page
    assert "population" in page  # the settings are shown
    assert not (run / "results.sqlite").exists()  # the read-only open never creates the store


def test_interrupted_run_shows_its_resume_command(tmp_path):
    resume = "python benchmarks/sample.py --out runs/x --resume"
    status = {"state": "interrupted", "message": "stopped by SIGTERM", "resume": resume, "updated": time.time()}
    page = render_html(make_run(tmp_path / "run", [record("S4")], status))
    assert 'data-state="interrupted"' in page
    assert 'class="resume urgent"' in page and resume in page
    assert "stopped by SIGTERM" in page


def test_page_is_self_contained(tmp_path):
    page = render_html(make_run(tmp_path / "run", [record("S4-Pmean-S8")], {"state": "finished"}))
    assert "http" not in page and "//cdn" not in page
    assert not re.search(r"<(link|img|iframe)\b|\bsrc\s*=|@import|url\(", page)
    assert "@media print" in page


def test_report_does_not_import_torch(tmp_path):
    run = make_run(tmp_path / "run", [record("S4")])
    code = (
        "import sys; from deap_cnn.runs.report import write_report; "
        f"write_report({str(run)!r}); assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_garbage_in_json_columns_and_files_does_not_crash(tmp_path):
    run = make_run(tmp_path / "run", [record("S4"), record("S8")])
    with sqlite3.connect(run / "results.sqlite") as db:
        db.execute("UPDATE evaluations SET fitness = 'not json', val_accuracy = '[1, \"x\"' WHERE genome = 'S4'")
        db.execute("UPDATE evaluations SET val_accuracy = '{\"a\": 1}', parameters = 'many' WHERE genome = 'S8'")
    (run / "status.json").write_text("{broken")
    (run / "logbook.csv").write_text("gen,max\n0,abc\n\x00,\n")
    page = write_report(run).read_text()
    assert len(evaluation_rows(page)) == 2
    assert "not json" in page and "status.json could not be read" in page


def test_values_from_the_store_are_escaped(tmp_path):
    run = make_run(tmp_path / "run", [record("<script>alert(1)</script>", (0.0,), "failed", "<b>boom</b>")])
    page = render_html(run)
    assert "<script>alert(1)" not in page and "<b>boom" not in page
    assert "&lt;script&gt;alert(1)" in page


def test_multi_objective_front_from_table_or_rows(tmp_path):
    records = [record("S4", (0.5, 100.0)), record("S8", (0.7, 400.0)), record("S16", (0.6, 900.0))]
    run = make_run(tmp_path / "run", records, {"state": "finished", "objectives": ["accuracy", "parameters"]})
    page = render_html(run)
    assert 'id="section-pareto-front"' in page and "parameters (minimised)" in page
    front = page.split('id="section-pareto-front"')[1].split("</section>")[0]
    assert "S16" not in front.split("<table")[1]  # dominated by S8: more accurate and smaller
    with ResultsStore(run / "results.sqlite", fingerprint="f") as store:
        store.save_front([("S4", (0.5, 100.0))], ("accuracy", "parameters"))
    front = render_html(run).split('id="section-pareto-front"')[1]
    assert "pareto_front table" in front and "S8" not in front.split("<table")[1].split("</table>")[0]


def test_non_dominated_respects_directions():
    points = [("a", [0.9, 10.0]), ("b", [0.8, 5.0]), ("c", [0.7, 20.0])]
    assert [g for g, _ in non_dominated(points, ["accuracy", "parameters"])] == ["a", "b"]
    assert [g for g, _ in non_dominated(points, [])] == ["a", "b"]  # unnamed: first maximised, rest minimised
    swapped = [(g, values[::-1]) for g, values in points]  # names, not positions, say which way is better
    assert [g for g, _ in non_dominated(swapped, ["parameters", "accuracy"])] == ["a", "b"]


def test_non_dominated_follows_recorded_directions_over_names():
    points = [("a", [0.9, 10.0]), ("b", [0.8, 5.0]), ("c", [0.7, 20.0])]
    # "score" and "cost" are a user's objectives: by position the first would be maximised, the second minimised.
    assert [g for g, _ in non_dominated(points, ["score", "cost"], ["minimise", "maximise"])] == ["c"]
    assert [g for g, _ in non_dominated(points, ["score", "cost"], ["maximise", "maximise"])] == ["a", "c"]
    assert [g for g, _ in non_dominated(points, ["score", "cost"], ["minimise"])] == ["a", "b"]  # unfit: by name


def test_a_run_that_minimises_shows_its_lowest_fitness_as_the_best(tmp_path):
    records = [record("S4", (0.9,)), record("S8", (0.3,)), record("S16", (0.6,))]
    status = {"state": "finished", "strategy": "ga", "objectives": ["score"], "directions": ["minimise"]}
    run = read_run(make_run(tmp_path / "run", records, status))  # a user's objective: its name says nothing
    assert run.directions == ["minimise"] and run.sign == -1.0
    assert best_evaluation(run.evaluations, sign=run.sign)["genome"] == "S8"
    assert best_evaluation(run.evaluations)["genome"] == "S4"  # the default: higher is better
    progress = best_so_far(run.evaluations, run.sign)
    best = [value for _, value in progress.best]
    assert best == [0.9, 0.3, 0.3] and best == sorted(best, reverse=True)  # only falls
    assert [number for number, _, _ in progress.improvements] == [1, 2]
    page = render_html(run.folder)
    first = section(page, "best-architecture")
    assert "<code>S8</code>" in first and "S16" not in first and "S4" not in first
    assert '<th scope="row">objective</th><td>score (minimised)</td>' in first
    assert "evaluation 2 of 3" in first
    assert "Best score (minimised) 0.3000, first reached at evaluation 2 of 3" in section(page, "best-so-far")
    assert best_row_ids(page) == ["2"]  # the table's highlight
    assert "best: S8" in section(page, "validation-curves")  # the bold curve
    xs, series = population_series(run)
    assert series["population best"] == [0.3, 0.3]  # the logbook's min column, not its max (0.5, 0.6)
    unrecorded = read_run(make_run(tmp_path / "old", records, {"objectives": ["loss", "accuracy"]}))
    assert unrecorded.directions == ["minimise", "maximise"]  # built-in names say their direction
    assert read_run(make_run(tmp_path / "last", records, {"objectives": ["last_accuracy"]})).sign == 1.0


def test_directions_from_the_stores_settings_beside_a_config(tmp_path):
    run = make_run(tmp_path / "run", [record("S4", (0.9,)), record("S8", (0.3,))], {"state": "running"})
    with ResultsStore(run / "results.sqlite", fingerprint="f") as store:  # what a run records there
        store.set_settings({"population": 2, "objectives": ["loss"], "directions": ["minimise"]})
    data = read_run(run)
    assert data.config_source == "config.json" and data.objectives == ["loss"] and data.directions == ["minimise"]
    assert "<code>S8</code>" in section(render_html(run), "best-architecture")


def test_a_multi_objective_run_follows_its_recorded_directions(tmp_path):
    records = [record("S4", (0.5, 100.0)), record("S8", (0.7, 400.0)), record("S16", (0.6, 900.0))]
    status = {"state": "finished", "objectives": ["error", "cost"], "directions": ["minimise", "maximise"]}
    page = render_html(make_run(tmp_path / "run", records, status))
    first = section(page, "best-architecture")
    assert "<code>S4</code>" in first and "error (minimised), cost (maximised)" in first
    front = section(page, "pareto-front")
    assert "cost (maximised)" in front and "error (minimised)" in front
    members = front.split("<table")[1]
    assert "S4" in members and "S16" in members and "S8" not in members  # S16: lower error than S8, higher cost


def test_hyperparameter_genes_get_one_plot_each(tmp_path):
    records = [record(f"S4|{HYPER}", (0.4,)), record(f"S8|{HYPER.replace('0.01', '0.1')}", (0.6,))]
    page = render_html(make_run(tmp_path / "run", records))
    genes = page.split('id="section-genes-against-fitness"')[1].split("</section>")[0]
    assert genes.count("<svg") == 7
    assert gene_values(f"S4|{HYPER}")["lr"] == 0.01 and gene_values(f"S4|{HYPER}")["opt"] == "sgd"
    assert gene_values("C+32,relu,0.25,bn,mp|adam") is None  # DEvol's '|' is not a hyper part


@pytest.mark.parametrize(
    "text, titles",
    [
        ("S64-S128-Pmax-S256", ["skip 64", "skip 128", "max pool", "skip 256"]),
        ("C+32,relu,0.25,bn,mp|D-64,tanh,0.0,-|adam", ["conv 32", "dense 64", "optimiser"]),
        ("256:relu:0.2-64:tanh:1e-05", ["dense 256", "dense 64"]),
        ("keep=42,freeze=10,lr=0.000316,drop=0.35", ["keep", "freeze", "lr", "drop"]),
        (f"S64-Pmean|{HYPER}", ["skip 64", "mean pool", "hyperparameters"]),
        ("weird-thing", ["weird", "thing"]),
    ],
)
def test_genome_units_per_family(text, titles):
    assert [unit.title for unit in genome_units(text)] == titles


def test_not_a_run_folder_is_an_error(tmp_path, capsys):
    with pytest.raises(ReportError, match="no run folder"):
        write_report(tmp_path / "absent")
    assert main([str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "not a run folder" in error and error.count("\n") == 1
    run = make_run(tmp_path / "run")
    assert main([str(run), "--out", str(tmp_path / "elsewhere.html")]) == 0
    assert (tmp_path / "elsewhere.html").exists()


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_live_server_shows_new_rows(tmp_path):
    run = make_run(tmp_path / "run", [record("S4")], {"state": "running"})
    server = serve(run, port=0, block=False)
    try:
        assert server.server_address[0] == "127.0.0.1" and server.port > 0
        page = fetch(server.url)
        assert len(evaluation_rows(page)) == 1 and 'data-live="1"' in page
        with ResultsStore(run / "results.sqlite", fingerprint="f") as store:  # the run writes while served
            store.add(record("S8-Pmax-S16", (0.8,)), generation=1, worker="w1")
            store.add(record("S16", (0.1,)), generation=1, worker="w0")
        page = fetch(server.url)
        assert len(evaluation_rows(page)) == 3 and "S8-Pmax-S16" in page
        with pytest.raises(urllib.error.HTTPError):
            fetch(server.url + "results.sqlite")  # only the page is served
    finally:
        server.shutdown()


def test_page_leads_with_the_best_architecture(tmp_path):
    records = [record("S4-Pmax-S8", (0.5,)), record("S8", (0.7,)), record("S4-S4", (0.2,))]
    status = {"state": "finished", "message": "best S8", "resume": "deap-cnn resume x", "strategy": "ga"}
    run = make_run(tmp_path / "run", records, status)
    best = {"genome": "S8", "validation_fitness": 0.7, "fitness": [0.7], "test_accuracy": 0.6789, "final_epochs": 3}
    (run / "best.json").write_text(json.dumps(best))
    page = render_html(run)
    keys = section_keys(page)
    assert keys[:3] == ["best-architecture", "best-so-far", "evaluations"]
    assert keys[-2:] == ["settings", "run-folder"]
    first = section(page, "best-architecture")
    assert "<h2>Best architecture</h2>" in first and "<code>S8</code>" in first and 'class="diagram"' in first
    assert "0.7000" in first and "0.6789" in first and "for 3 epochs" in first
    assert "1,234" in first and "56,789" in first  # parameters and FLOPs of the best's row
    assert "evaluation 2 of 3" in first
    assert 'class="state state-finished"' in first and 'class="resume' not in first  # nothing to resume
    assert re.findall(r'<tr class="evaluation[^"]*best[^"]*">\s*<td class="col-id" data-sort="2', page)


def test_best_so_far_only_rises_though_agings_population_best_falls(tmp_path):
    fitness = [(0.3, "ok"), (0.6, "ok"), (0.9, "failed"), (0.5, "ok"), (0.7, "ok"), (0.1, "ok")]
    records = [record(f"S{n + 4}", (value,), status, "boom" if status != "ok" else None) for n, (value, status) in
               enumerate(fitness)]  # fmt: skip
    run = make_run(tmp_path / "run", records, {"state": "running", "strategy": "aging"}, logbook=False)
    (run / "logbook.csv").write_text("gen,nevals,max,mean\n0,3,0.6,0.45\n1,3,0.5,0.4\n")
    progress = best_so_far(read_run(run).evaluations)
    assert [value for _, value in progress.best] == [0.3, 0.6, 0.6, 0.6, 0.7, 0.7]  # the failed 0.9 counts for nothing
    assert [number for number, _, _ in progress.improvements] == [1, 2, 5]
    assert progress.seconds == [1.5, 3.0, 4.5, 6.0, 7.5, 9.0]  # the failed evaluation's training time counts
    chart = section(render_html(run), "best-so-far")
    assert 'class="chart best-so-far"' in chart
    assert "Best fitness 0.7000, first reached at evaluation 5 of 6" in chart and "1 evaluation since" in chart
    assert 'data-axis="evaluations"' in chart and 'data-axis="time"' in chart  # evaluations first: the default
    assert chart.index('data-axis="evaluations"') < chart.index('data-axis="time"')
    population = section(render_html(run), "population")
    assert "population best" in population and "best can fall" in population


@pytest.mark.parametrize("strategy, shown", [("ga", True), ("nsga2", True), ("random", False), ("tpe", False)])
def test_population_chart_only_where_a_population_lives_on(tmp_path, strategy, shown):
    run = make_run(tmp_path / "run", [record("S4")], {"state": "finished", "strategy": strategy})
    page = render_html(run)
    assert ("population" in section_keys(page)) == shown
    assert "best-so-far" in section_keys(page)  # every strategy gets the best so far


def test_settings_are_folded_differences_first_without_nulls(tmp_path):
    config = {"population": 2, "generations": 20, "lr": None, "data": "sample", "strategy": "aging",
              "objectives": None, "widths": [4, 8], "halving_eta": 1 / 3, "fingerprint": "abc"}  # fmt: skip
    view = settings_view(config, "config.json")
    assert [s.key for s in view.changed] == ["population", "widths"]  # aging is the default for the family's objective
    assert [s.key for s in view.all][:3] == ["strategy", "objectives", "halving_eta"]  # SearchConfig's order
    assert view.all[-1].key == "fingerprint"  # not a setting of SearchConfig: listed, never a difference
    assert "default" in next(s.text for s in view.all if s.key == "lr")
    assert settings_view({**config, "objectives": ["accuracy", "parameters"]}, "").changed[0].key == "strategy"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    settings = section(render_html(tmp_path / "run"), "settings")
    assert settings.lstrip().startswith("<h2>Settings</h2>\n<details") and "<details open" not in settings
    changed = settings.split('class="plain settings-changed"')[1].split("</table>")[0]
    assert "population" in changed and "widths" in changed and "4, 8" in changed
    assert "lr" not in changed and "generations" not in changed and "null" not in settings
    assert "lr" in settings.split('class="plain settings-all"')[1]


def test_running_run_shows_its_best_so_far_and_how_to_resume(tmp_path):
    status = {"state": "running", "message": "generation 1 done", "resume": "deap-cnn resume runs/x"}
    page = render_html(make_run(tmp_path / "run", [record("S4", (0.4,)), record("S8", (0.6,))], status))
    first = section(page, "best-architecture")
    assert "<h2>Best architecture so far</h2>" in first and "<code>S8</code>" in first
    assert 'class="resume"' in first and "If it stops" in first and "deap-cnn resume runs/x" in first
    assert 'class="state state-running"' in first and "generation 1 done" in first


def test_resumed_run_leads_with_the_stores_best_not_an_earlier_finishs(tmp_path):
    run = make_run(tmp_path / "run", [record("S4", (0.5,)), record("S8", (0.7,))], {"state": "running"})
    (run / "best.json").write_text(json.dumps({"genome": "S4", "test_accuracy": 0.4321}))  # from the last finish
    first = section(render_html(run), "best-architecture")
    assert "<code>S8</code>" in first and "0.4321" not in first


def test_failed_run_leads_with_its_error_and_resume_command(tmp_path):
    status = {"state": "failed", "message": "RuntimeError: CUDA error", "resume": "deap-cnn resume runs/x"}
    page = render_html(make_run(tmp_path / "run", [record("S4", (0.4,))], status))
    first = section(page, "best-architecture")
    assert section_keys(page)[0] == "best-architecture"
    assert 'class="state state-failed"' in first and "RuntimeError: CUDA error" in first
    assert 'class="resume urgent"' in first and "Continue this run with:" in first


def test_run_with_no_evaluations_yet_renders(tmp_path):
    run = make_run(tmp_path / "run", status={"state": "running"}, logbook=False)
    ResultsStore(run / "results.sqlite", fingerprint="f").close()  # the store exists, empty
    page = render_html(run)
    assert section_keys(page)[:3] == ["best-architecture", "best-so-far", "evaluations"]
    assert "No architecture has been scored yet" in section(page, "best-architecture")
    assert "Nothing to plot: no evaluations yet" in section(page, "best-so-far")
    assert "the store holds none yet" in section(page, "evaluations")
    assert "This part could not be drawn" not in page


def test_multi_objective_run_leads_with_its_most_accurate_member(tmp_path):
    records = [record("S4", (0.5, 100.0)), record("S8", (0.7, 400.0)), record("S16", (0.6, 900.0))]
    run = make_run(tmp_path / "run", records, {"state": "finished", "objectives": ["accuracy", "parameters"]})
    with ResultsStore(run / "results.sqlite", fingerprint="f") as store:
        store.save_front([("S8", (0.7, 400.0)), ("S4", (0.5, 100.0))], ("accuracy", "parameters"))
    page = render_html(run)
    first = section(page, "best-architecture")
    assert "<code>S8</code>" in first and "accuracy 0.7000 · parameters 400" in first
    assert 'href="#section-pareto-front"' in first and "the highest accuracy of the 2 architectures" in first
    keys = section_keys(page)
    assert keys.index("evaluations") < keys.index("pareto-front") < keys.index("settings")


def test_rerank_pick_leads_though_another_scored_higher(tmp_path):
    run = make_run(tmp_path / "run", [record("S4", (0.5,)), record("S8", (0.7,))], {"state": "finished"})
    rerank = [{"genome": "S4", "search_fitness": 0.5, "rerank_fitness": 0.66, "status": "ok"},
              {"genome": "S8", "search_fitness": 0.7, "rerank_fitness": 0.61, "status": "ok"}]  # fmt: skip
    (run / "best.json").write_text(json.dumps({"genome": "S4", "rerank": rerank, "rerank_epochs": 4}))
    page = render_html(run)
    first = section(page, "best-architecture")
    assert "<code>S4</code>" in first and "0.6600 retrained for 4 epochs from scratch" in first
    assert "the 2 best distinct genomes" in first
    best_rows = re.findall(r'<tr class="evaluation best">\s*<td class="col-id" data-sort="(\d+)', page)
    assert best_rows == ["1"]


def test_table_columns_follow_the_data(tmp_path):
    records = [record("S4", flops=None), record("S8", flops=None)]
    page = render_html(make_run(tmp_path / "run", records))
    titles = column_titles(page)
    assert titles[:3] == ["id", "genome", "fitness"] and "status" in titles
    assert "flops" not in titles and "error" not in titles  # no row has a value there
    assert "noise-free" not in titles  # trainings store no noise-free score
    failed = make_run(tmp_path / "failed", [*records, record("S16", (0.0,), "oom", "CUDA out of memory", flops=7)])
    assert {"flops", "error"} <= set(column_titles(render_html(failed)))


def test_templates_ship_with_the_package():
    """A non-editable install has the templates: setup.cfg's package data covers every file of templates/."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["deap_cnn.runs.report"].split(",")]
    package = ROOT / "deap_cnn" / "runs" / "report"
    files = [path.relative_to(package) for path in (package / "templates").rglob("*") if path.is_file()]
    assert files and all(any(path.match(pattern) for pattern in patterns) for path in files)
    assert any(line.strip().startswith("jinja2") for line in config["options"]["install_requires"].splitlines())


@pytest.fixture(scope="module")
def lookup_run(tmp_path_factory):
    """A real benchmark-table run: NATS's 15,625 cells scored by a synthetic table, looked up with noise."""
    from deap_cnn.families import get_family
    from deap_cnn.runs.cli import main as deap_cnn_main

    root = tmp_path_factory.mktemp("lookup")
    table = root / "table.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["architecture", "score"])
        for n, genome in enumerate(get_family("nats").space((3, 32, 32), 10, {}).all_genomes()):
            writer.writerow([str(genome), 50 + (n * 7919) % 4500 / 100])
    out = root / "run"
    command = ["search", "--family", "nats", "--lookup", str(table), "--lookup-noise", "0.3", "--population", "4",
               "--trainings", "12", "--out", str(out)]  # fmt: skip
    assert deap_cnn_main(command) == 0
    return out


def stored_noise_free(run_dir):
    with sqlite3.connect(f"file:{run_dir / 'results.sqlite'}?mode=ro", uri=True) as db:
        return [value for (value,) in db.execute("SELECT noise_free_fitness FROM evaluations ORDER BY id")]


@pytest.mark.xdist_group("report-lookup-run")
def test_a_table_lookup_run_shows_the_tables_noise_free_scores(lookup_run):
    best = json.loads((lookup_run / "best.json").read_text())
    assert best["classes"] == [] and "test_accuracy" not in best and "noise_free_fitness" in best
    assert 'data-state="finished"' in (lookup_run / "report.html").read_text()  # the final page, written at the end
    page = render_html(lookup_run)
    titles = column_titles(page)
    assert titles[titles.index("fitness") + 1] == "noise-free"  # beside the noisy fitness
    cells = re.findall(r'<td class="col-noise-free" data-sort="([^"]+)">', page)
    assert [float(v) for v in cells] == stored_noise_free(lookup_run) and len(cells) == 12
    first = section(page, "best-architecture")
    expected = fitness_value(best["noise_free_fitness"])
    assert f'<th scope="row">noise-free score in the table</th><td>{expected}</td>' in first
    assert "scored by" in first and str(lookup_run.parent / "table.csv") in first and "sd 0.3" in first
    assert "test accuracy</th>" not in first and "retrained" not in first  # nothing is trained
    assert "looked up again with fresh noise" in first  # --rerank looks the best up again
    assert "accuracy (maximised)" in first
    assert "validation-curves" not in section_keys(page) and "curve" not in titles  # one point each: the fitness
    assert "This part could not be drawn" not in page


@pytest.mark.xdist_group("report-lookup-run")
def test_a_running_table_lookup_run_shows_its_best_rows_noise_free_score(lookup_run, tmp_path):
    run_dir = tmp_path / "running"
    shutil.copytree(lookup_run, run_dir)
    (run_dir / "best.json").unlink()
    status = json.loads((run_dir / "status.json").read_text())
    (run_dir / "status.json").write_text(json.dumps({**status, "state": "running"}))
    data = read_run(run_dir)
    row = best_evaluation(data.evaluations, sign=data.sign)
    first = section(render_html(run_dir), "best-architecture")
    assert f"<code>{row['genome']}</code>" in first
    assert f"<td>{fitness_value(row['noise_free_fitness'])}</td>" in first
    assert "measured when the search ends" not in first and "test accuracy</th>" not in first


def test_a_fast_run_rewrites_its_report_at_most_every_few_seconds(monkeypatch):
    """After every evaluation the status is refreshed, the page only when REPORT_SECONDS have passed (no sleeping)."""
    from types import SimpleNamespace

    from deap_cnn.runs import runner
    from deap_cnn.search.objectives import Objectives

    calls = []
    folder = SimpleNamespace(
        path="run",
        write_logbook=lambda logbook: calls.append("logbook"),
        set_status=lambda state, message, **details: calls.append(("status", state, message, details["directions"])),
    )
    monkeypatch.setattr(runner, "write_report_quietly", lambda written: calls.append("report"))
    parts = SimpleNamespace(family=SimpleNamespace(name="nats"), objectives=Objectives("accuracy"))
    now = [100.0]
    after = runner._after_generation(folder, SimpleNamespace(strategy="aging"), parts, clock=lambda: now[0])
    reports = []
    for evaluation, seconds in enumerate([100.0, 100.1, 102.0, 104.9, 105.0, 105.2, 109.9, 110.0, 130.0], start=1):
        now[0] = seconds
        after(evaluation, [], None, ["a logbook row"])
        reports.append(calls.count("report"))
    assert reports == [1, 1, 1, 1, 2, 2, 2, 3, 4]  # the first at once, then once runner.REPORT_SECONDS have passed
    assert runner.REPORT_SECONDS == 5.0
    assert calls.count("logbook") == 9  # the logbook and the status (what a live report watches) every time
    assert [c for c in calls if c[0] == "status"][-1] == ("status", "running", "generation 9 done", ["maximise"])
