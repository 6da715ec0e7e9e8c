# make run: install into .venv and serve on 127.0.0.1:8000 with home ~/.agent_server.
# make test: install the dev extras and the TypeScript client's npm packages, run the whole suite.
# make bench: install the bench extras and run bench/ (BENCH_ARGS=--quick for a short run).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
HOME_DIR ?= $(HOME)/.agent_server
BENCH_ARGS ?=

TS_CLIENT := clients/typescript
NODE_HELP := make test needs Node.js 20 or later with npm, for the TypeScript client test: install \
them (e.g. apt-get install nodejs npm) and run make test again

.PHONY: run test lint format install dev bench clean openapi ts-deps

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

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev
ts-deps: $(TS_CLIENT)/node_modules/.installed

run: install
	$(BIN)/agent-server serve --host $(HOST) --port $(PORT) --home $(HOME_DIR)

test: dev ts-deps
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.gateway

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
