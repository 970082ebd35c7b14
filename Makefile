# Sightline: `make run` serves the product, `make test` proves it. Both set themselves up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Django 6 needs Python 3.12+: take the first interpreter that is new enough.
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install run test lint format services-start services-stop vendor clean

help:
	@echo "make run     install, start PostgreSQL/Redis (embedded unless DATABASE_URL/REDIS_URL are set), serve on :$${PORT:-8000}"
	@echo "make test    run the whole test suite (browser tests included)"
	@echo "make lint    ruff check + ruff format --check"

$(STAMP): requirements.lock
	@if [ -z "$(PYTHON)" ]; then echo "Sightline needs Python 3.12 or newer (Django 6); none was found on PATH." >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	@$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	@touch $@

install: $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m config.run

test: $(STAMP)
	@SECRET_KEY=$${SECRET_KEY:-test-only-secret-key} $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

format: $(STAMP)
	@$(BIN)/ruff check --fix .
	@$(BIN)/ruff format .

services-start: $(STAMP)
	@$(BIN)/python -m config.embedded start

services-stop: $(STAMP)
	@$(BIN)/python -m config.embedded stop

clean:
	rm -rf $(VENV) .data
