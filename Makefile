# The two commands: `make run` and `make test`. uv is installed with pip when missing.
.DEFAULT_GOAL := help
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.uv/bin/uv)
RUN := $(UV) run --frozen
# The branch-coverage floor applies to the whole suite only, not to a selection.
COVERAGE_FLOOR := $(if $(PYTEST_ARGS),0,90)

.PHONY: help install run dev test test-cov test-browser lint format verify migrate revision \
        migrate-new client client-test contract bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(CURDIR)/.uv/bin/uv:
	python3 -m venv $(CURDIR)/.uv
	$(CURDIR)/.uv/bin/pip install --quiet uv

.venv: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	@touch .venv

install: .venv  ## create .venv with every dependency from uv.lock

run: .venv  ## migrate ./app.db and serve on http://127.0.0.1:8000
	$(RUN) python -m app serve

dev: .venv  ## run, restarting on code changes
	$(RUN) python -m app serve --reload

test: .venv  ## the test suite with branch coverage (PostgreSQL too when TEST_DATABASE_URL is set)
	@rm -f .coverage .coverage.*
	$(RUN) coverage run -m pytest -n auto $(PYTEST_ARGS)
	$(RUN) coverage combine --quiet
	$(RUN) coverage report --fail-under=$(COVERAGE_FLOOR)

test-cov: test  ## the test suite, then an HTML coverage report in htmlcov/
	$(RUN) coverage html

test-browser: .venv  ## the back office, tabs, mailed links, cookie mode, OpenID Connect sign-in and live updates end to end in headless Chromium (needs node and /usr/bin/chromium)
	cd tests/browser && npm ci --no-audit --no-fund && npm test

lint: .venv  ## ruff (lint + format check) and mypy --strict
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy .

format: .venv  ## apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

verify: lint test  ## everything to run before pushing: lint, tests, and `alembic check`
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	  export DATABASE_URL="sqlite:///$$scratch/check.db" && \
	  $(RUN) python -m app migrate && $(RUN) alembic check

migrate: .venv  ## apply migrations (and create FIRST_ADMIN_* if set)
	$(RUN) python -m app migrate

revision: .venv  ## autogenerate a migration from the models: make revision msg="add widgets"
	@test -n "$(msg)" || (echo 'usage: make revision msg="what changed"' && exit 2)
	$(RUN) python -m app migrate  # compared with the models once up to date
	$(RUN) alembic revision --autogenerate -m "$(msg)"

migrate-new: revision  ## the same as revision

client: .venv  ## write clients/openapi.json from the app, then regenerate the typed client
	$(RUN) python clients/scripts/dump_openapi.py
	cd clients && { [ -d node_modules ] || npm ci; } && npm run generate

client-test: .venv  ## the react-admin and Refine providers' tests, against a live server
	cd clients && npm ci && npm test

contract: .venv  ## schemathesis, all checks, against a live server on SQLite (and PostgreSQL)
	$(RUN) python -m tests.contract sqlite
	@if [ -n "$$TEST_DATABASE_URL" ]; then $(RUN) python -m tests.contract postgresql; fi

bench: .venv  ## load figures as ratios, on PostgreSQL and SQLite (needs wrk; bench/README.md)
	$(RUN) python -m bench

clean:  ## remove caches and the local virtualenv
	rm -rf .venv .uv .mypy_cache .ruff_cache .pytest_cache .coverage htmlcov
