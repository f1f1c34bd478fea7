# taskq developer commands. `make help` lists them.
#
# `make up` runs the stack in Docker (compose.yaml) when a Docker engine answers, else on this
# machine under supervisord (scripts/localstack.py). Force one with STACK=docker or STACK=local.
# CLUSTER=1 runs it on a three-node RabbitMQ cluster: `make cluster-up` here (scripts/cluster.py),
# or in Docker compose.yaml's `cluster` profile with deploy/compose.cluster.yaml.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STACK ?= auto
PYTEST_ARGS ?=
BENCH_ARGS ?=
# two: the cluster tests run on one worker while the other runs the rest (0: all in one process)
TEST_WORKERS ?= 2
CLUSTER ?=
cluster_mode := $(filter 1,$(CLUSTER))
COMPOSE_CLUSTER := -f compose.yaml -f deploy/compose.cluster.yaml --profile cluster

# true when `make up/down/logs` should use Docker Compose
use_docker = { [ "$(STACK)" = docker ] || { [ "$(STACK)" = auto ] && docker info >/dev/null 2>&1; }; }

.PHONY: help install lock up down logs status test lint format typecheck bench clean distclean
.PHONY: cluster-up cluster-down cluster-status

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv with the exact versions of uv.lock: the project, its extras, the dev groups

# Syncs again only when pyproject.toml or uv.lock changes (the project install is editable).
# uv is installed into the venv by pip, so a fresh machine needs only python3. --inexact keeps
# pip and uv themselves, which the lock does not list.
$(STAMP): pyproject.toml uv.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet 'uv>=0.5'
	UV_PROJECT_ENVIRONMENT=$(VENV) $(VENV)/bin/uv sync --locked --inexact --all-extras
	@touch $@

lock: ## after changing dependencies in pyproject.toml: update uv.lock (commit both)
	@test -x $(VENV)/bin/uv || { test -x $(PY) || python3 -m venv $(VENV); $(PY) -m pip install --quiet 'uv>=0.5'; }
	$(VENV)/bin/uv lock

up: install ## start the stack (Docker if it runs here, else local supervisord); CLUSTER=1: on 3 nodes
	@if $(use_docker); then \
		docker compose $(if $(cluster_mode),$(COMPOSE_CLUSTER)) up -d --build --wait \
			&& $(PY) scripts/localstack.py urls --docker $(if $(cluster_mode),--cluster); \
	else \
		$(if $(cluster_mode),python3 scripts/cluster.py up &&) \
		$(PY) scripts/localstack.py up $(if $(cluster_mode),--cluster); \
	fi

down: ## stop what `make up` started
	@python3 scripts/localstack.py down
	@if $(use_docker); then docker compose down; fi

logs: ## follow the service logs
	@if $(use_docker); then docker compose logs -f; else python3 scripts/localstack.py logs; fi

status: ## show what is running
	@if $(use_docker); then docker compose ps; else $(PY) scripts/localstack.py status; fi

test: install ## run the tests on TEST_WORKERS processes (PYTEST_ARGS=... passes options on)
	@rc=0; $(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

lint: install ## ruff and mypy over the whole tree (changes nothing)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install ## format the code and apply safe lint fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install ## mypy over the whole tree (strict; tests need no annotations)
	$(VENV)/bin/mypy

cluster-up: ## start a local 3-node RabbitMQ cluster (taskq1-3@localhost, 5681-5683)
	@python3 scripts/cluster.py up

cluster-down: ## stop the local cluster's three nodes (never the broker on 5672)
	@python3 scripts/cluster.py down

cluster-status: ## show the local cluster's nodes
	@python3 scripts/cluster.py status

bench: install ## run the benchmark (BENCH_ARGS=... passes options on)
	$(PY) -m bench $(BENCH_ARGS)

clean: ## remove caches and build leftovers (keeps .venv and data/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: down clean ## also remove .venv and data/ (the database and logs)
	rm -rf $(VENV) data
