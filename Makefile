# make run: install into .venv and serve on 127.0.0.1:8000 with home ~/.agent_server.
# make test: install the dev extras, the TypeScript client's npm packages, Debian's chromium and
# postgresql (where missing and root), then run the whole suite.
# make bench: install the bench extras and run bench/ (BENCH_ARGS=--quick for a short run).
# make run-postgres: a local PostgreSQL cluster in .venv/pg and the server on it (docs/deploy.md).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
HOME_DIR ?= $(HOME)/.agent_server
BENCH_ARGS ?=
# pytest-xdist workers for make test: one per core, at most four (each may start a PostgreSQL
# cluster and dozens of server processes of its own).
TEST_WORKERS ?= auto --maxprocesses 4

TS_CLIENT := clients/typescript
CHROMIUM ?= chromium
CHROMIUM_HELP := make test needs Debian's chromium package for the browser tests: install it with \
sudo apt-get install chromium (or set CHROMIUM to a Chromium binary) and run make test again
POSTGRES_HELP := make test needs initdb and pg_ctl from Debian's postgresql package for the \
PostgreSQL store tests: install it with sudo apt-get install postgresql (or set PG_BIN to the \
folder that holds them) and run make test again
PG_PORT ?= 54329
NODE_HELP := make test needs Node.js 20 or later with npm, for the TypeScript client test: install \
them (e.g. apt-get install nodejs npm) and run make test again

.PHONY: run run-postgres test lint format install dev bench clean openapi ts-deps browser postgres

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

# The TypeScript client's packages, exactly as package-lock.json pins them; again when it changes.
$(TS_CLIENT)/node_modules/.installed: $(TS_CLIENT)/package.json $(TS_CLIENT)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "$(NODE_HELP)" >&2; exit 1; }
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund
	touch $@

# Headless Chromium for the browser tests: Debian's package, installed when missing and we may.
browser:
	@command -v $(CHROMIUM) >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium for the browser tests"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
				>/dev/null || { echo "$(CHROMIUM_HELP)" >&2; exit 1; }; \
		else echo "$(CHROMIUM_HELP)" >&2; exit 1; fi; }

# PostgreSQL's initdb and pg_ctl for the store tests: Debian's package, installed when missing and
# we may, without the cluster Debian would otherwise create and start (the tests run their own).
postgres:
	@[ -n "$(PG_BIN)" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	command -v initdb >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's postgresql for the PostgreSQL store tests"; \
			mkdir -p /etc/postgresql-common; \
			[ -e /etc/postgresql-common/createcluster.conf ] || \
				echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				-o Dpkg::Options::=--force-confold postgresql) \
				>/dev/null || { echo "$(POSTGRES_HELP)" >&2; exit 1; }; \
		else echo "$(POSTGRES_HELP)" >&2; exit 1; fi; }

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev
ts-deps: $(TS_CLIENT)/node_modules/.installed

run: install
	$(BIN)/agent-server serve --host $(HOST) --port $(PORT) --home $(HOME_DIR)

# A cluster in .venv/pg (made once, kept) on 127.0.0.1:$(PG_PORT), stopped when the server stops;
# the keys every replica would share are made once in .venv/pg/keys.env.
run-postgres: install postgres
	@mkdir -p $(VENV)/pg
	@[ -e $(VENV)/pg/keys.env ] || (umask 077 && \
		echo "AGENT_SERVER_SECRET_KEY=$$($(BIN)/agent-server keygen)" > $(VENV)/pg/keys.env && \
		echo "AGENT_SERVER_ETAG_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(32))')" \
			>> $(VENV)/pg/keys.env)
	@$(BIN)/python scripts/local_postgres.py start $(VENV)/pg $(PG_PORT) > $(VENV)/pg/url & \
	pg=$$!; trap 'kill $$pg; wait $$pg' EXIT INT TERM; \
	while [ ! -s $(VENV)/pg/url ]; do kill -0 $$pg || exit 1; sleep 0.2; done; \
	set -a; . $(VENV)/pg/keys.env; set +a; \
	$(BIN)/agent-server serve --host $(HOST) --port $(PORT) --home $(HOME_DIR) \
		--store "$$(cat $(VENV)/pg/url)"

test: dev ts-deps browser postgres
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q --numprocesses $(TEST_WORKERS)

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.gateway
	$(BIN)/python -m bench.postgres $(BENCH_ARGS)

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict sdk

openapi: install
	$(BIN)/python -m agent_server.reference docs

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(TS_CLIENT)/node_modules $(TS_CLIENT)/build
