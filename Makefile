# Sundown developer entry points. Each target sets itself up on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# Looked up once, on first use (so find-python312's advice prints once, and `make help` needs no Python).
PYTHON312 ?= $(eval PYTHON312 := $$(shell scripts/find-python312))$(PYTHON312)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The SAM CLI lives in its own venv: its exact boto3/click pins must not decide the test environment's.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed

.PHONY: help venv lint format validate checkov build sam-local test unit property bench demo clean

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

$(SAM_STAMP): requirements-sam.txt
	@test -n "$(PYTHON312)" || { echo "error: Python 3.12 not found (see scripts/find-python312)"; exit 1; }
	@test -x $(SAM_VENV)/bin/python || $(PYTHON312) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	@touch $(SAM_STAMP)

lint: venv ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

validate: venv ## Validate template.yaml offline: SAM translator, then cfn-lint on the translated template
	$(PY) scripts/validate_template.py template.yaml

checkov: venv ## checkov on template.yaml and its SAM translation (own venv .venv-checkov, pinned in scripts/checkov.sh)
	PROJECT_PY=$(PY) scripts/checkov.sh template.yaml

build: $(SAM_STAMP) ## sam build (arm64 layer) into .aws-sam/build, then import every built handler as Lambda would
	@test -n "$(PYTHON312)" || { echo "error: Python 3.12 not found (see scripts/find-python312)"; exit 1; }
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/python scripts/build_and_smoke.py --python "$(PYTHON312)"

sam-local: venv build ## sam local invoke --env-vars env.json against sundown local, minus Docker: SAM's own env resolution, the built handlers
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/python scripts/sam_local_invoke.py --python "$(PYTHON312)" --sundown $(VENV)/bin/sundown

test: venv lint validate checkov build sam-local ## Everything CI runs: lint, template validation, sam build + smoke, sam local env check, unit + integration + e2e tests
	$(PY) -m pytest -q -n auto --dist loadscope

unit: venv ## Unit tests only (no AWS)
	$(PY) -m pytest -q tests/unit

property: venv ## The invariants over many more random histories (SUNDOWN_PROPERTY_EXAMPLES, default 200)
	SUNDOWN_PROPERTY_EXAMPLES=$${SUNDOWN_PROPERTY_EXAMPLES:-200} $(PY) -m pytest -q -n auto tests/property

bench: venv ## Benchmarks on moto (requests per unit of work, memory, cold start); writes BENCHMARKS.md
	PYTHONPATH=local:layers/sundown:. $(PY) -m bench.run

demo: venv ## Replay ~45 days of accounts, logins, billing and sweeps on an embedded AWS
	$(VENV)/bin/sundown simulate --days 45

clean: ## Remove the virtualenv and build output
	rm -rf $(VENV) $(SAM_VENV) .venv-checkov .aws-sam .pytest_cache .ruff_cache
