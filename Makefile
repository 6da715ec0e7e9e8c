# make run: install into .venv and serve on 127.0.0.1:8000 with home ~/.agent_server.
# make test: install the dev extras, the TypeScript client's npm packages and Debian's chromium
# (where missing and root), then run the whole suite.
# make bench: install the bench extras and run bench/ (BENCH_ARGS=--quick for a short run).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
HOME_DIR ?= $(HOME)/.agent_server
BENCH_ARGS ?=

TS_CLIENT := clients/typescript
CHROMIUM ?= chromium
CHROMIUM_HELP := make test needs Debian's chromium package for the browser tests: install it with \
sudo apt-get install chromium (or set CHROMIUM to a Chromium binary) and run make test again
NODE_HELP := make test needs Node.js 20 or later with npm, for the TypeScript client test: install \
them (e.g. apt-get install nodejs npm) and run make test again

.PHONY: run test lint format install dev bench clean openapi ts-deps browser

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

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev
ts-deps: $(TS_CLIENT)/node_modules/.installed

run: install
	$(BIN)/agent-server serve --host $(HOST) --port $(PORT) --home $(HOME_DIR)

test: dev ts-deps browser
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q

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
