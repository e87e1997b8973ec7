# The README's two commands: `make run` and `make test`. Nothing else is needed on a fresh
# machine with Python 3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/desktopviz $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check desktopviz tests scenarios
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in tests/perf/bench_*.py; do QT_QPA_PLATFORM=offscreen $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) build *.egg-info
