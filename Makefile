# The two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs python3.12, so the venv (and every wheel and .pyc we ship) must be 3.12.
# The pyenv shim for python3.12 fails without PYENV_VERSION, so resolve the interpreter by path.
PYTHON ?= $(shell \
	for p in "$$(pyenv prefix 3.12 2>/dev/null)/bin/python" \
	         "$$(pyenv prefix 3.12.1 2>/dev/null)/bin/python" \
	         "$$(command -v python3.12 2>/dev/null)"; do \
	  [ -x "$$p" ] && "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null \
	    && { echo "$$p"; break; }; \
	done)
VENV := .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv run test lint clean

help:
	@echo "make run    serve the API on http://localhost:5000"
	@echo "make test   run the test suite"

$(VENV_PY):
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: Python 3.12 not found. Install it (pyenv install 3.12) or pass PYTHON=/path/to/python3.12" >&2; exit 1; fi
	"$(PYTHON)" -m venv $(VENV)

$(STAMP): $(VENV_PY) requirements.txt requirements-dev.txt
	$(VENV_PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/flask --app app run --host 127.0.0.1 --port 5000

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) lint
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) .serverless .pytest_cache .ruff_cache .hypothesis instance
