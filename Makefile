# Kervan developer commands. `make up` runs the local system, `make test` the whole suite.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV := $(shell bash scripts/ensure-tools.sh | tail -n 1)
ifeq ($(strip $(UV)),)
UV = $(error scripts/ensure-tools.sh failed: run `bash scripts/ensure-tools.sh` to see why)
endif
RUN := $(UV) run --all-packages --locked
PYTEST_ARGS ?=
SERVICES ?=
DEVSTACK := $(RUN) python -m kervan_devstack

.PHONY: help sync up down status test test-unit bench lint typecheck fmt contracts check chaos images

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

sync: ## Install the locked Python environment (.venv)
	@bash scripts/ensure-tools.sh >/dev/null
	$(UV) sync --all-packages --locked

up: sync ## Start Kafka, PostgreSQL and OpenBao (and, as they land, the services) on 127.0.0.1; writes .devstack/env
	$(DEVSTACK) up
	@echo "Endpoints: source .devstack/env"

down: ## Stop what `make up` started
	$(DEVSTACK) down

status: ## Show what the local stack runs where
	$(DEVSTACK) status

test: sync ## The whole suite (unit, component, integration, e2e) against real servers it starts and stops
	UV=$(UV) bash scripts/test.sh $(PYTEST_ARGS)

test-unit: sync ## Only the tests that need no server
	UV=$(UV) UNIT_ONLY=1 bash scripts/test.sh -m "not integration and not e2e and not chaos" $(PYTEST_ARGS)

chaos: sync ## Fault-injection runs (SIGKILL, broker and database restarts); minutes, not part of make test
	$(RUN) pytest services/order-ingest -m chaos $(PYTEST_ARGS)

bench: sync ## Benchmarks: print figures and the ratio to a baseline measured in the same run
	@set -e; for b in bench/bench_*.py; do echo "== $$b"; $(RUN) python $$b; done

lint: sync ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

fmt: sync ## Format and autofix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: sync ## mypy --strict over every package (one run per member: each has its own tests package)
	@set -e; for member in libs/* services/* bench $(if $(wildcard tests/e2e/*.py),tests/e2e) $(if $(wildcard tests/deploy/*.py),tests/deploy deploy/k8s/generate.py); do \
	  echo "mypy $$member"; $(RUN) mypy $$member; done

images: sync ## Build the service images (docker|podman|buildah; BASE_IMAGES=local without a container registry)
	bash deploy/build-images.sh $(SERVICES)

contracts: sync ## Regenerate the committed JSON Schemas of the events and the AsyncAPI documents
	$(RUN) python -m kervan_contracts.export
	$(RUN) python -m kervan_contracts.asyncapi

check: lint typecheck test ## What CI runs
