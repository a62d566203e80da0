# Two entry points for newcomers: `make run` and `make test`. Both create the
# virtual environment first (once; again when setup.cfg changes). `make docs`
# builds the documentation site into docs/_build/html; `make lint` checks the
# code with ruff (the configuration is in pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test lint docs
setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@# -qq: errors only. pip otherwise warns about every index location of the machine's own pip
	@# configuration that does not exist, none of which concerns this project.
	$(PY) -m pip install -qq --upgrade pip
	@# setuptools warns about every editable install of a flat layout; nothing is wrong, so keep it quiet.
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install -qq -e '.[test]'
	touch $@

# A small real search on the bundled Fashion-MNIST sample, two SCOOP workers.
run: setup
	$(PY) -m scoop -n 2 benchmarks/sample.py

# In parallel, a worker per CPU (pytest-xdist), then the 15 slowest tests: setup.cfg's [tool:pytest] addopts.
test: setup
	$(PY) -m pytest -q

# Lint and format check, read-only. To fix a file: ruff check --fix FILE && ruff format FILE.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The documentation site: the Markdown pages and the API reference from the docstrings.
# Nitpicky (-n: every name a docstring references must exist) and warnings are errors (-W).
docs: $(VENV)/.docs-installed
	$(PY) -m sphinx -b html -n -W --keep-going -q docs docs/_build/html
	@echo "docs/_build/html/index.html"

$(VENV)/.docs-installed: $(VENV)/.installed
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install -qq -e '.[docs]'
	touch $@
