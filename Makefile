# One entry point for developer habits. Every target installs what it needs itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run once test lint format typecheck bench clean-state browser

install: $(STAMP)

$(STAMP): pyproject.toml setup.py watcher/text/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the watcher on the bundled demo (local feeds, SQLite in var/, alerts on the console)
run: $(STAMP)
	$(BIN)/watcher run --config config/demo.yaml

## once: one pass over the demo feeds, then exit
once: $(STAMP)
	$(BIN)/watcher once --config config/demo.yaml

## test: lint, type-check and the whole test suite (what CI runs)
test: $(STAMP) browser lint typecheck
	$(BIN)/python -m pytest

## browser: Debian's chromium for the desk's browser tests (Playwright comes with .[dev])
browser:
	@test -x /usr/bin/chromium || { apt-get update && apt-get install -y --no-install-recommends chromium; }

lint: $(STAMP)
	$(BIN)/ruff check watcher tests bench tools
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

format: $(STAMP)
	$(BIN)/ruff check --fix watcher tests bench
	$(BIN)/ruff format watcher tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/match.py
	$(BIN)/python bench/poll.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/latency.py

## clean-state: forget what the demo has seen, so `make run` alerts again
clean-state:
	rm -rf var/
