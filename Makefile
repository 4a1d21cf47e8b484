# Sundown developer entry points. Each target sets itself up on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON312 ?= $(shell scripts/find-python312)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv lint format validate test unit integration e2e demo clean

help: ## List targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt layers/sundown/requirements.txt pyproject.toml
	@test -n "$(PYTHON312)" || { echo "error: Python 3.12 not found (see scripts/find-python312)"; exit 1; }
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv with Python 3.12 and the pinned dependencies

lint: venv ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

validate: venv ## Validate template.yaml offline: SAM translator, then cfn-lint on the translated template
	$(PY) scripts/validate_template.py template.yaml

test: venv lint validate ## Everything CI runs: lint, template validation, unit + integration + e2e tests
	$(PY) -m pytest -q

unit: venv ## Unit tests only (no AWS)
	$(PY) -m pytest -q tests/unit

demo: venv ## Replay ~45 days of accounts, logins, billing and sweeps on an embedded AWS
	$(VENV)/bin/sundown simulate --days 45

clean: ## Remove the virtualenv and build output
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache
