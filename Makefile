# ILUMINET workbook — `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
R_PACKAGES := r-base-core r-cran-survival r-cran-nlme
BROWSER_PACKAGES := chromium
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg

.DEFAULT_GOAL := help
.PHONY: help setup system-deps demo-data run lint test test-fast test-browser test-notebooks notebooks bench lab clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the package with its test tools

system-deps:  ## install R + survival + nlme (statistics reference) and Chromium (browser test) with apt
	@need=""; \
	if [ -z "$$ILUMINET_SKIP_R" ] && ! (command -v Rscript >/dev/null && Rscript -e 'library(survival); library(nlme)' >/dev/null 2>&1); then need="$$need $(R_PACKAGES)"; fi; \
	if [ -z "$$ILUMINET_SKIP_BROWSER" ] && [ ! -x /usr/bin/chromium ]; then need="$$need $(BROWSER_PACKAGES)"; fi; \
	if [ -z "$$need" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$need"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	else echo "needed: apt-get install$$need (or set ILUMINET_SKIP_R=1 / ILUMINET_SKIP_BROWSER=1)"; exit 1; fi

demo-data: $(STAMP)  ## generate the demo data (once; cached in data/demo)
	$(BIN)/iluminet demo >/dev/null

run: $(STAMP)  ## set up, then run every demo patient and the cohort notebooks into reports/
	$(BIN)/iluminet run --workers 2

lint: $(STAMP)  ## ruff, mypy and the import contracts (import-linter)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The unit tests and the notebook checks always both run; the target fails if either failed.
test: lint system-deps demo-data  ## lint, then run every test and check the notebooks (nbval)
	@status=0; \
	$(BIN)/python -m pytest -n 2 --dist loadfile -q || status=1; \
	$(BIN)/python -m pytest $(NBVAL) -q notebooks || status=1; \
	exit $$status

test-fast: $(STAMP) demo-data  ## unit tests without the slow ones
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

test-browser: $(STAMP) system-deps  ## only the real-browser widget test (JupyterLab + Chromium)
	$(BIN)/python -m pytest -q -m browser tests/viewers

test-notebooks: $(STAMP) demo-data  ## only the nbval notebook checks
	$(BIN)/python -m pytest $(NBVAL) -q notebooks

notebooks: $(STAMP) demo-data  ## re-execute the notebooks in place (refreshes nbval references)
	cd notebooks && ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.kernel_name=python3 0*.ipynb

bench: $(STAMP) demo-data  ## speed and memory benchmarks
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lab: $(STAMP) demo-data  ## JupyterLab on the workbook
	$(BIN)/jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

clean:  ## remove generated data and reports (keeps .venv)
	rm -rf reports/patients reports/cohort data/demo
