# The two commands a newcomer needs: `make run` and `make test` (see README.md).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
CHROMIUM ?= /usr/bin/chromium
export PORT HOST

.PHONY: run test bench lint fmt install install-dev frontend services chromium valgrind migrate clean help

help:
	@echo "make run    start every process of the Procfile on http://$(HOST):$(PORT) with demo data"
	@echo "make test   run the whole suite (unit, integration, browser)"
	@echo "make bench  run the benchmarks in bench/ and write bench/results.json"
	@echo "make lint   ruff and the layering check"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "Python 3.11 or newer is needed; $(PYTHON) is older. Install python3.11." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime frontend
install-dev: $(VENV)/.dev frontend

# Front-end packages from the npm registry, pinned by package-lock.json, served as static files.
frontend:
	@if [ -f package-lock.json ]; then \
	  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	    command -v npm >/dev/null || { echo "npm is needed for the front-end packages: install Node.js 20+" >&2; exit 1; }; \
	    npm ci --no-audit --no-fund --loglevel=error; \
	  fi; \
	fi

services:
	@$(BIN)/python manage.py ensure_services --create-database

migrate: services
	$(BIN)/python manage.py migrate --noinput

run: install migrate
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py collectstatic --noinput -v 0
	@mkdir -p var
	@echo "Serving on http://$(HOST):$(PORT)  (Ctrl-C stops every process)"
	$(BIN)/honcho start -f Procfile -p $(PORT)

# $(call apt_install,PACKAGE,WHY,WHAT TO DO): as root with apt-get, install PACKAGE from
# Debian (updating the lists if the first try fails); otherwise stop, saying what to do.
define apt_install
if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
  echo "Installing Debian's $(1) $(2)"; \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1) >/dev/null || \
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1) >/dev/null; }; \
else \
  echo "$(3)" >&2; \
  exit 1; \
fi
endef

chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  $(call apt_install,chromium,for the browser tests,The browser tests need Chromium at $(CHROMIUM): run 'sudo apt-get install chromium' (or set CHROMIUM=/path/to/chromium)); \
	fi

test: install-dev chromium
	@$(BIN)/python manage.py ensure_services
	CHROMIUM=$(CHROMIUM) $(BIN)/pytest $(PYTEST_ARGS)

# bench/order_cost.py counts instructions with valgrind's callgrind.
valgrind:
	@if ! command -v valgrind >/dev/null; then \
	  $(call apt_install,valgrind,for bench/order_cost.py,bench/order_cost.py needs valgrind: run 'sudo apt-get install valgrind'); \
	fi

bench: install-dev valgrind
	@$(BIN)/python manage.py ensure_services --create-database
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	python3 ../shared/tools/check_layers.py

fmt: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles node_modules var
