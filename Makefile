# DealPulse: `make run` brings the whole system up on the embedded stack; `make test` runs every test against it.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := -e libs/common -e services/ingest -e "services/scorer[training]" -e services/verdict \
            -e services/alerts -e services/gateway -e libs/cli
INSTALLED := $(VENV)/.installed
# The dashboard's browser libraries (Chart.js), pinned by the lockfile and copied into the gateway's static vendor
# directory by npm ci (services/gateway/web/vendor.mjs); the page loads them from there, never from a CDN.
WEB := services/gateway/web
WEB_INSTALLED := services/gateway/dealpulse_gateway/static/vendor/.installed
# The dashboard's browser tests drive Debian's Chromium (no wheel ships a browser; Playwright never downloads one).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install run test test-unit lint bench clean-stack

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(INSTALLED) $(WEB_INSTALLED) ## create the virtualenv and install every package (Python and the dashboard's npm ones), pinned

$(INSTALLED): requirements/constraints.txt requirements/dev.txt libs/*/pyproject.toml services/*/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements/constraints.txt -r requirements/dev.txt $(PACKAGES)
	touch $@

$(WEB_INSTALLED): $(WEB)/package.json $(WEB)/package-lock.json $(WEB)/vendor.mjs
	npm ci --prefix $(WEB) --no-audit --no-fund
	touch $@

run: install ## start the embedded stack, all five services and a demo CRM feed (Ctrl-C stops all)
	$(BIN)/dealpulse run

test: lint $(CHROMIUM) ## lint, then the whole suite against a fresh embedded stack it starts and stops itself
	$(BIN)/pytest

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test-unit: install ## only the pure rules, no stack
	$(BIN)/pytest tests/unit

lint: install ## ruff on everything, mypy on libs/common
	$(BIN)/ruff check .
	$(BIN)/mypy libs/common/dealpulse_common

bench: install ## measure the targets and write docs/BENCHMARKS.md
	$(BIN)/dealpulse bench

clean-stack: ## delete the embedded stack's data (/var/tmp/dealpulse)
	rm -rf /var/tmp/dealpulse
