# Two commands for a newcomer: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: demo test lint sample-dumps bench protos clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(TSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP) $@

demo: $(STAMP)
	$(BIN)/envoyscope demo

test: $(TSTAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: $(TSTAMP)
	$(BIN)/ruff check envoyscope tests bench
	$(BIN)/mypy

sample-dumps: $(TSTAMP)
	$(BIN)/python -m tests.lab.make_sample_dumps

bench: $(TSTAMP)
	$(BIN)/python bench/run.py

protos: $(TSTAMP)
	$(BIN)/python protos/build.py

clean:
	rm -rf $(VENV) build dist *.egg-info
