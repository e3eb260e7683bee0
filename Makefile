# The two commands: `make run` and `make test`. uv is installed with pip when missing.
.DEFAULT_GOAL := help
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.uv/bin/uv)

.PHONY: help run test lint format migrate revision bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(CURDIR)/.uv/bin/uv:
	python3 -m venv $(CURDIR)/.uv
	$(CURDIR)/.uv/bin/pip install --quiet uv

.venv: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	@touch .venv

run: .venv  ## migrate ./app.db and serve on http://127.0.0.1:8000 (reloads on code changes)
	$(UV) run --frozen python -m app serve --reload

test: .venv  ## the test suite with branch coverage (PostgreSQL too when TEST_DATABASE_URL is set)
	@rm -f .coverage .coverage.*
	$(UV) run --frozen coverage run -m pytest -n auto $(PYTEST_ARGS)
	$(UV) run --frozen coverage combine --quiet
	$(UV) run --frozen coverage report

lint: .venv  ## ruff (lint + format check) and mypy --strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy .

format: .venv  ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

migrate: .venv  ## apply migrations (and create FIRST_ADMIN_* if set)
	$(UV) run --frozen python -m app migrate

revision: .venv  ## autogenerate a migration: make revision msg="add widgets"
	@test -n "$(msg)" || (echo 'usage: make revision msg="what changed"' && exit 2)
	$(UV) run --frozen alembic revision --autogenerate -m "$(msg)"

bench: .venv  ## load benchmarks against PostgreSQL (needs wrk; see bench/README.md)
	$(UV) run --frozen python -m bench

clean:  ## remove caches and the local virtualenv
	rm -rf .venv .uv .mypy_cache .ruff_cache .pytest_cache .coverage htmlcov
