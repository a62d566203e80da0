"""The README and docs/ cannot go stale: their code blocks run, their commands parse.

Every fenced block of ``README.md`` and ``docs/**/*.md`` says what it is by
its tag (docs/contributing.md has the convention):

- ```` ```python ````: run, in a temporary folder that holds ``runs/tour``
  (the run the README's tour makes) and ``winner.pt``;
- ```` ```python fragment ````: shown only (it needs a cluster, or names from
  the text around it); it must still compile;
- ```` ```sh ````: every command is parsed by the parser that would read it
  (``deap-cnn``'s, with :func:`deap_cnn.runs.config.config_from_args`
  checking every value's range; each script's own), so a renamed flag, an
  unknown choice or an out-of-range value fails here; commands of other
  programs are named in :data:`OTHER_PROGRAMS`;
- ```` ```sh run ````: also run, in order, in that temporary folder, with
  :data:`SHRINK` appended to each ``deap-cnn search`` (fewer batches, narrower
  networks) so that the whole tour takes seconds;
- ```` ```sql ````: run against the store its first line names
  (``-- sqlite3 runs/tour/results.sqlite``);
- ```` ```yaml ````: parsed; ```` ```text ````: not run (output, file contents).

Indented code blocks carry no tag, so they are refused.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PAGES = [page for page in PAGES if "_build" not in page.parts]

#: What each tag may say: the language, then the words allowed after it.
TAGS = {"python": {"", "fragment"}, "sh": {"", "run"}, "sql": {""}, "yaml": {""}, "text": {""}}

#: Appended to every ``deap-cnn search`` of a ```sh run``` block: argparse keeps an option's last value.
SHRINK = ["--max-batches", "2", "--widths", "4", "8", "--max-skip-units", "2"]

#: Programs whose command lines the docs show but deap_cnn does not own, so no parser here checks them.
OTHER_PROGRAMS = {
    "dask": "Dask's own scheduler and worker commands (docs/distribution.md)",
    "pip": "installing extras",
    "sqlite3": "SQLite's shell",
}


@dataclasses.dataclass
class Block:
    page: Path
    line: int
    language: str
    words: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    blocks, lines = [], page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = re.match(r"^(```+)(.*)$", lines[index])
        if opening:
            fence, info = opening.group(1), opening.group(2).strip()
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith(fence))
            language, _, words = info.partition(" ")
            blocks.append(Block(page, index + 1, language, words.strip(), "\n".join(lines[index + 1 : end]) + "\n"))
            index = end
        index += 1
    return blocks


#: Code blocks; MyST directives (```{toctree}```, ```{include}```) are the site's structure, not code.
BLOCKS = [block for page in PAGES for block in fenced_blocks(page) if not block.language.startswith("{")]


def blocks_of(language, words=""):
    return [pytest.param(b, id=b.name) for b in BLOCKS if b.language == language and b.words == words]


def commands(block: Block) -> list[list[str]]:
    """The commands of a shell block: continuations joined, comments dropped, split at ``;``."""
    found = []
    for line in block.text.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";")
        lexer.whitespace_split, lexer.commenters = True, "#"
        command = []
        for token in [*lexer, ";"]:
            if token == ";":
                found += [command] if command else []
                command = []
            else:
                command.append(token)
    return [without_environment(command) for command in found]


def without_environment(command: list[str]) -> list[str]:
    """The command without the ``NAME=value`` assignments before it (they set its environment)."""
    while command and re.match(r"^[A-Z_][A-Z0-9_]*=", command[0]):
        command = command[1:]
    return command


# --- the convention itself ----------------------------------------------------------------


def test_pages_are_found():
    names = {page.relative_to(ROOT).as_posix() for page in PAGES}
    assert {"README.md", "docs/index.md", "docs/contributing.md", "docs/runs.md"} <= names


@pytest.mark.parametrize("block", [pytest.param(b, id=b.name) for b in BLOCKS])
def test_every_block_says_what_it_is(block):
    assert block.language in TAGS, f"{block.name}: tag it with one of {sorted(TAGS)} (docs/contributing.md)"
    assert block.words in TAGS[block.language], f"{block.name}: {block.language} takes {TAGS[block.language]}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_untagged_indented_code_blocks(page):
    lines, inside, previous = page.read_text().splitlines(), False, ""
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            inside = not inside
        elif not inside and line.startswith("    ") and not previous.strip():
            context = next((above for above in reversed(lines[: number - 1]) if above.strip()), "")
            in_list = re.match(r"^\s*([-*+]|\d+\.)\s|^\s{2,}\S", context)
            assert in_list, f"{page.name}:{number}: an indented code block; fence it with a tag instead"
        previous = line


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_at_files(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if not re.match(r"^[a-z]+:", target):
            assert (page.parent / target).exists(), f"{page.name}: link to missing {target}"


def test_readme_gives_a_newcomer_exactly_two_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    shown = [" ".join(c) for b in fenced_blocks(ROOT / "README.md") if b.text in section for c in commands(b)]
    assert shown == ["make run", "make test"]
    targets = re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
    assert {"run", "test", "docs"} <= set(targets)


# --- shell commands: parsed by the parsers that would read them ---------------------------


class Parsed(BaseException):
    """Raised by the patched ``parse_args`` once a script's parser has accepted its arguments."""

    def __init__(self, namespace):
        self.namespace = namespace


@contextmanager
def parse_only():
    """Stop a script right after its parser accepted the arguments (or let argparse's usage error out)."""
    original = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):
        raise Parsed(original(self, args, namespace))

    argparse.ArgumentParser.parse_args = parse_args
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_args = original


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"docs_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def check_deap_cnn(args, defaults=None):
    from deap_cnn.runs.cli import build_parser
    from deap_cnn.runs.config import config_from_args

    namespace = build_parser(defaults).parse_args(args)
    if namespace.command == "search":
        config_from_args(namespace)  # every value's range, and the settings that exclude each other


def check_main(module, args, argv0):
    """Run ``module.main`` until its parser has read ``args``; then any check of its own (``parse_method``)."""
    saved, sys.argv = sys.argv, [argv0, *args]
    try:
        with parse_only():
            main = module.main
            main(args) if main.__code__.co_argcount else main()
        raise AssertionError(f"{argv0} never parsed its arguments")
    except Parsed as parsed:
        namespace = parsed.namespace
    finally:
        sys.argv = saved
    if hasattr(module, "parse_method"):
        for method in getattr(namespace, "methods", None) or []:
            if method != "all":
                module.parse_method(method)


def check_script(path: Path, args):
    assert path.exists(), f"no script {path.relative_to(ROOT)}"
    module = load(path)
    if hasattr(module, "PRESET"):  # a preset of deap-cnn search
        check_deap_cnn(["search", *args], module.PRESET)
    else:
        check_main(module, args, str(path))


def check_command(command):
    """Parse ``command`` as the program it names would; raise on anything it would refuse."""
    program, *args = command
    if program == "deap-cnn":
        return check_deap_cnn(args)
    if program in OTHER_PROGRAMS:
        return None
    if program == "make":
        targets = re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
        assert args and set(args) <= set(targets), f"make {args}: the Makefile has {targets}"
        return None
    assert program in ("python", "python3"), f"{command}: a command no test checks; see OTHER_PROGRAMS"
    if args[:2] == ["-m", "deap_cnn"]:
        return check_deap_cnn(args[2:])
    if args[:2] == ["-m", "scoop"]:
        args = args[2:]
        while args and args[0] in ("-n", "--hostfile"):
            args = args[2:]
    if args[0] == "-m":
        module = importlib.import_module(args[1] + (".cli" if args[1] == "deap_cnn.runs.report" else ""))
        return check_main(module, args[2:], args[1])
    script, args = args[0], args[1:]
    if script == "my_search.py":  # the README's example, saved under that name
        assert "Save this as `my_search.py`" in (ROOT / "README.md").read_text() and not args
        return None
    return check_script(ROOT / script, args)


SHELL = [b for b in BLOCKS if b.language == "sh"]


@pytest.mark.parametrize(
    "command, block",
    [pytest.param(c, b, id=f"{b.name}:{' '.join(c)[:60]}") for b in SHELL for c in commands(b)],
)
def test_shell_command_parses(command, block):
    out, err = StringIO(), StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            check_command(command)
    except SystemExit as done:  # argparse's way to refuse (2), or --help (0)
        assert done.code in (0, None), f"{block.name}: {' '.join(command)}\n{err.getvalue()}{done.code}"


def test_a_renamed_flag_or_a_value_out_of_range_fails_the_check():
    from deap_cnn.runs.config import ConfigError

    for bad in (
        ["deap-cnn", "search", "--populaton", "4"],
        ["python", "benchmarks/sample.py", "--bogus"],
        ["python", "benchmarks/search_quality.py", "--methods", "annealing"],
    ):
        with pytest.raises(SystemExit), redirect_stderr(StringIO()):
            check_command(bad)
    with pytest.raises(ConfigError):
        check_command(["deap-cnn", "search", "--population", "0"])
    with pytest.raises(AssertionError):
        check_command(["python", "benchmarks/nowhere.py"])


# --- the tour, run; then the Python and SQL blocks in its folder -------------------------


def environment():
    env = dict(os.environ, PYTHONPATH=str(ROOT), DEAP_CNN_DEVICE="cpu", MPLBACKEND="Agg", DEAP_CNN_LOCAL_WORKERS="2")
    env.pop("DEAP_CNN_WORKER_INDEX", None)
    return env


@pytest.fixture(scope="session")  # not module: xdist interleaves other modules' tests, which would tear it down
def tour(tmp_path_factory):
    """A folder after every ```sh run``` block's commands ran in it, in order, shrunk by :data:`SHRINK`."""
    folder = tmp_path_factory.mktemp("tour")
    ran = []
    for block in [b for b in BLOCKS if b.language == "sh" and b.words == "run"]:
        for command in commands(block):
            assert command[0] == "deap-cnn" and "--serve" not in command, f"{block.name}: run blocks end by themselves"
            argv = [sys.executable, "-m", "deap_cnn", *command[1:]]
            argv += SHRINK if command[1] == "search" else []
            done = subprocess.run(argv, cwd=folder, env=environment(), capture_output=True, text=True, timeout=600)
            output = done.stdout[-2000:] + done.stderr[-3000:]
            assert done.returncode == 0, f"{block.name}: {' '.join(command)}\n{output}"
            ran.append(command[1])
    return folder, ran


@pytest.mark.xdist_group("docs-tour")
def test_the_readme_tour_runs(tour):
    folder, ran = tour
    assert ran[:4] == ["search", "resume", "best", "report"]
    run = folder / "runs" / "tour"
    expected = (
        "config.json",
        "status.json",
        "results.sqlite",
        "checkpoint.json",
        "best.json",
        "best.pt",
        "report.html",
    )
    for name in expected:
        assert (run / name).exists(), name
    assert (folder / "winner.pt").exists() and (folder / "winner.json").exists()


@pytest.mark.xdist_group("docs-tour")
@pytest.mark.parametrize("block", blocks_of("python"))
def test_python_block_runs(block, request):
    if "futures.map" in block.text:
        pytest.skip("the README's SCOOP example: tests/test_runs.py runs it under python -m scoop -n 2")
    folder, _ = request.getfixturevalue("tour")  # after the skip: a skipped block builds no tour
    done = subprocess.run(
        [sys.executable, "-c", block.text], cwd=folder, env=environment(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{block.name}\n{done.stderr[-3000:]}"


def test_the_scoop_example_is_run_elsewhere():
    assert "def test_readme_example_runs_under_scoop" in (ROOT / "tests" / "test_runs.py").read_text()


@pytest.mark.parametrize("block", blocks_of("python", "fragment"))
def test_python_fragment_compiles(block):
    compile(block.text, block.name, "exec")


@pytest.mark.xdist_group("docs-tour")
@pytest.mark.parametrize("block", blocks_of("sql"))
def test_sql_block_runs_on_the_store_it_names(block, tour):
    folder, _ = tour
    store = re.match(r"-- sqlite3 (\S+)", block.text)
    assert store, f"{block.name}: begin with '-- sqlite3 PATH' naming the store it reads"
    with sqlite3.connect(folder / store.group(1)) as db:
        rows = db.execute(block.text).fetchall()
    assert rows, f"{block.name}: no rows"


@pytest.mark.parametrize("block", blocks_of("yaml"))
def test_yaml_block_parses(block):
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(block.text)
