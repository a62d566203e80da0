"""The run report in a real browser (Debian's Chromium through playwright), over real tiny runs.

Needs ``apt-get install chromium`` and ``pip install playwright``; never
``playwright install``: the browser is the system's, at /usr/bin/chromium.
"""

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from deap_cnn.runs.report import serve, write_report

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"browser test: no Chromium at {CHROMIUM}: apt-get install chromium", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser test: no playwright: pip install playwright (not `playwright install`)"
)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FITNESS = "#evaluations thead th.col-fitness"

#: One Chromium and one set of runs (module fixtures) for the module: its tests share a pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One Chromium for the module, with a fresh profile."""
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def single_objective_run(tmp_path_factory):
    from deap_cnn.runs.config import SearchConfig
    from deap_cnn.runs.runner import run_search

    out = tmp_path_factory.mktemp("single") / "r"
    config = SearchConfig(
        data="sample", population=2, generations=1, epochs=1, max_batches=2, final_epochs=0,
        widths=(4, 8), max_skip_units=2, out=str(out), device="cpu",
    )  # fmt: skip
    run_search(config, map_function=map, verbose=False)
    return out


@pytest.fixture(scope="module")
def multi_objective_run(tmp_path_factory):
    from deap_cnn.runs.config import SearchConfig
    from deap_cnn.runs.runner import run_search

    out = tmp_path_factory.mktemp("multi") / "r"
    # NSGA-II's crowded tournament takes parents four at a time: a population of 4.
    config = SearchConfig(
        strategy="nsga2", objectives=("accuracy", "parameters"), data="sample", population=4, generations=1,
        epochs=1, max_batches=2, final_epochs=0, widths=(4, 8), max_skip_units=2, out=str(out), device="cpu",
    )  # fmt: skip
    run_search(config, map_function=map, verbose=False)
    return out


@pytest.fixture(scope="module")
def lookup_run(tmp_path_factory):
    """A benchmark-table run: 12 noisy lookups in a synthetic table of NATS's 15,625 cells (about a second)."""
    from deap_cnn.families import get_family
    from deap_cnn.runs.cli import main

    root = tmp_path_factory.mktemp("lookup")
    with open(root / "table.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["architecture", "score"])
        for n, genome in enumerate(get_family("nats").space((3, 32, 32), 10, {}).all_genomes()):
            writer.writerow([str(genome), 50 + (n * 7919) % 4500 / 100])
    command = ["search", "--family", "nats", "--lookup", str(root / "table.csv"), "--lookup-noise", "0.3",
               "--population", "4", "--trainings", "12", "--out", str(root / "r")]  # fmt: skip
    assert main(command) == 0
    return root / "r"


def open_page(browser, url):
    """A page at ``url``, with every JavaScript error collected in ``page.errors``."""
    page = browser.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.goto(url)
    page.wait_for_load_state("load")
    return page


def open_report(browser, run_dir):
    """The report's page, opened from its file."""
    return open_page(browser, write_report(run_dir).resolve().as_uri())


def stored_rows(run_dir):
    with sqlite3.connect(f"file:{Path(run_dir) / 'results.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]


def fitness_keys(page, key="fitness"):
    return page.eval_on_selector_all(
        f"#evaluations tbody tr.evaluation td.col-{key}", "cells => cells.map(c => c.getAttribute('data-sort'))"
    )


def check_sorting(page, key="fitness"):
    header = page.locator(f"#evaluations thead th.col-{key}")
    header.click()
    ascending = [float(k) for k in fitness_keys(page, key) if k is not None]
    assert ascending == sorted(ascending) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = [float(k) for k in fitness_keys(page, key) if k is not None]
    assert descending == sorted(ascending, reverse=True) and header.get_attribute("aria-sort") == "descending"


def check_order(page):
    """The answer first: the best architecture, then the best so far (a chart whose line is drawn), then the table."""
    sections = page.eval_on_selector_all("main > section", "sections => sections.map(s => s.id)")
    assert sections[:3] == ["section-best-architecture", "section-best-so-far", "section-evaluations"]
    assert sections[-1] == "section-run-folder" and "section-settings" in sections[-2:]
    first = page.locator("main > section").first
    assert first.locator("svg.diagram").is_visible()  # the best genome's units
    assert "validation fitness" in first.inner_text()
    chart = page.locator("#section-best-so-far svg.best-so-far:visible")
    assert chart.count() == 1 and chart.locator("polyline").count() == 1
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 150


def check_axis_choice(page):
    """The best so far against training time, and back to evaluations (the default)."""
    charts = page.locator("#section-best-so-far .axis-chart")
    assert charts.nth(0).is_visible() and not charts.nth(1).is_visible()
    page.click('.axis-choice button[data-axis="time"]')
    assert charts.nth(1).is_visible() and not charts.nth(0).is_visible()
    assert "training time" in charts.nth(1).locator("svg").get_attribute("aria-label")
    page.click('.axis-choice button[data-axis="evaluations"]')
    assert charts.nth(0).is_visible() and not charts.nth(1).is_visible()


def check_settings_folded(page):
    """Settings start folded; opened, the differences come first, the full list is folded inside."""
    assert not page.is_visible(".settings-changed")
    page.click("#settings-details > summary")
    assert page.is_visible(".settings-changed") and not page.is_visible(".settings-all")
    assert "population" in page.locator(".settings-changed").inner_text()
    page.click("#settings-all > summary")
    assert page.locator(".settings-all tbody tr").count() > page.locator(".settings-changed tbody tr").count()


def check_filter(page):
    rows = page.locator("#evaluations tbody tr.evaluation")
    genome = rows.first.locator("td").nth(1).inner_text()
    expected = sum(genome.lower() in text.lower() for text in rows.all_inner_texts())
    page.fill("#evaluation-filter", genome)
    assert page.locator("#evaluations tbody tr.evaluation:visible").count() == expected
    page.fill("#evaluation-filter", "no genome reads like this")
    assert page.locator("#evaluations tbody tr.evaluation:visible").count() == 0
    page.fill("#evaluation-filter", "")
    assert page.locator("#evaluations tbody tr.evaluation:visible").count() == rows.count()


def check_screenshot(page, path):
    from PIL import Image

    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert image.width >= 800 and image.height >= 600
    assert colours is not None and len(colours) > 16, "the screenshot is (nearly) blank"


@pytest.mark.parametrize("run_fixture", ["single_objective_run", "multi_objective_run"])
def test_report_in_chromium(request, browser, run_fixture, tmp_path):
    run_dir = request.getfixturevalue(run_fixture)
    page = open_report(browser, run_dir)
    try:
        assert page.locator("#evaluations tbody tr.evaluation").count() == stored_rows(run_dir) > 0
        check_order(page)
        check_axis_choice(page)
        check_settings_folded(page)
        check_sorting(page)
        check_filter(page)
        assert page.locator("svg.diagram").count() == 1  # the best genome's units
        if run_fixture == "multi_objective_run":
            assert page.locator("#section-pareto-front svg circle").count() > 0
        check_screenshot(page, tmp_path / f"{run_fixture}.png")
        page.emulate_media(media="print")  # the print stylesheet hides the filter, shows every row
        assert not page.is_visible("#evaluation-filter")
        assert page.locator("#evaluations tbody tr.evaluation:visible").count() == stored_rows(run_dir)
        assert page.errors == []
    finally:
        page.close()


def test_lookup_report_in_chromium(browser, lookup_run, tmp_path):
    """A table-lookup run's page: the table's noise-free scores beside fitness and sortable, no test accuracy."""
    page = open_report(browser, lookup_run)
    try:
        assert page.locator("#evaluations tbody tr.evaluation").count() == stored_rows(lookup_run) == 12
        check_order(page)
        first = page.locator("main > section").first.inner_text()
        assert "noise-free score in the table" in first and "scored by" in first and "test accuracy\t" not in first
        titles = page.eval_on_selector_all("#evaluations thead th", "cells => cells.map(c => c.dataset.key)")
        assert titles[titles.index("fitness") + 1] == "noise-free"
        check_sorting(page, "noise-free")
        assert page.locator("#section-validation-curves").count() == 0
        check_screenshot(page, tmp_path / "lookup_run.png")
        assert page.errors == []
    finally:
        page.close()


def test_live_page_keeps_the_readers_choices_across_refreshes(browser, single_objective_run, tmp_path):
    """Served while running, the page takes in a new evaluation and keeps the filter, sort and axis chosen."""
    run_dir = tmp_path / "running"
    shutil.copytree(single_objective_run, run_dir)
    status = json.loads((run_dir / "status.json").read_text())
    (run_dir / "status.json").write_text(json.dumps({**status, "state": "running"}))
    server = serve(run_dir, port=0, block=False)
    page = open_page(browser, server.url)
    try:
        assert page.locator("main > section").first.get_attribute("id") == "section-best-architecture"
        page.fill("#evaluation-filter", "S")
        page.locator(FITNESS).click()
        page.click('.axis-choice button[data-axis="time"]')
        page.click("#settings-details > summary")
        rows = stored_rows(run_dir)
        with sqlite3.connect(run_dir / "results.sqlite") as db:  # the run records one more evaluation
            db.execute(
                "INSERT INTO evaluations (fingerprint, genome, generation, fitness, status, created_at, seconds) "
                "SELECT fingerprint, 'S8-Pmax-S4', 9, '[0.99]', 'ok', created_at, 1.0 FROM evaluations LIMIT 1"
            )
        page.wait_for_function(
            f"document.querySelectorAll('#evaluations tbody tr.evaluation').length === {rows + 1}", timeout=30_000
        )
        assert page.input_value("#evaluation-filter") == "S"
        assert page.locator(FITNESS).get_attribute("aria-sort") == "ascending"
        assert page.is_visible('.axis-chart[data-axis="time"]')
        assert not page.is_visible('.axis-chart[data-axis="evaluations"]')
        assert page.is_visible(".settings-changed")  # the settings the reader unfolded stay open
        # The new best leads: the copied best.json is an earlier finish's, and the run is running again.
        assert "0.9900" in page.locator("#section-best-architecture").inner_text()
        assert page.errors == []
    finally:
        page.close()
        server.shutdown()
