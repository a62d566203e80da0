"""The run report in a real browser (Debian's Chromium through playwright), over real tiny runs.

Needs ``apt-get install chromium`` and ``pip install playwright``; never
``playwright install``: the browser is the system's, at /usr/bin/chromium.
"""

import sqlite3
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"browser test: no Chromium at {CHROMIUM}: apt-get install chromium", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser test: no playwright: pip install playwright (not `playwright install`)"
)

from deap_cnn.runs.report import write_report

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
FITNESS_COLUMN = 2  # "#", "genome", "fitness", ...


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


def open_report(browser, run_dir):
    """The report's page, opened from its file, with every JavaScript error collected in ``page.errors``."""
    path = write_report(run_dir)
    page = browser.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page


def stored_rows(run_dir):
    with sqlite3.connect(f"file:{Path(run_dir) / 'results.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]


def column_keys(page, column):
    return page.eval_on_selector_all(
        "#evaluations tbody tr.evaluation",
        f"rows => rows.map(r => r.cells[{column}].getAttribute('data-sort'))",
    )


def check_sorting(page):
    header = page.locator("#evaluations thead th").nth(FITNESS_COLUMN)
    header.click()
    ascending = [float(k) for k in column_keys(page, FITNESS_COLUMN) if k is not None]
    assert ascending == sorted(ascending) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = [float(k) for k in column_keys(page, FITNESS_COLUMN) if k is not None]
    assert descending == sorted(ascending, reverse=True) and header.get_attribute("aria-sort") == "descending"


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
