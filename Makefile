# Two entry points for newcomers: `make run` and `make test`. Both create the
# virtual environment first (once; again when setup.cfg changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test
setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# setuptools warns about every editable install of a flat layout; nothing is wrong, so keep it quiet.
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install --quiet -e '.[test]'
	touch $@

# A small real search on the bundled Fashion-MNIST sample, two SCOOP workers.
run: setup
	$(PY) -m scoop -n 2 benchmarks/sample.py

test: setup
	$(PY) -m pytest -q
