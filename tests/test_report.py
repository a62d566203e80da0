"""The run report: the page over hand-made run folders, the command line, and the live server."""

import json
import re
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
from deap_cnn.runs.report.run_data import generation_series
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


def test_a_run_that_minimises_shows_its_lowest_fitness_as_the_best(tmp_path):
    records = [record("S4", (0.9,)), record("S8", (0.3,)), record("S16", (0.6,))]
    status = {"state": "finished", "objectives": ["score"], "directions": ["minimise"]}  # a user's objective
    run = read_run(make_run(tmp_path / "run", records, status, logbook=False))
    assert run.directions == ["minimise"] and run.sign == -1.0
    assert best_evaluation(run.evaluations, sign=run.sign)["genome"] == "S8"
    _, _, series = generation_series(run)
    assert series["best so far"] == [0.6, 0.3]  # generation 0 holds S4 and S16, generation 1 S8
    page = render_html(run.folder)
    assert "score (minimised)" in page.split('id="section-status"')[1].split("</section>")[0]
    best = page.split('id="section-best-architecture"')[1].split("</section>")[0]
    assert "S8" in best and "S16" not in best
    logbook = read_run(make_run(tmp_path / "logged", records, status))
    assert generation_series(logbook)[2]["best"] == [0.3, 0.3]  # the logbook's min column
    unrecorded = read_run(make_run(tmp_path / "old", records, {"objectives": ["loss", "accuracy"]}))
    assert unrecorded.directions == ["minimise", "maximise"]  # built-in names say their direction


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
    assert main([str(tmp_path)]) == 2
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
