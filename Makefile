# softone-sync — every set-up step lives here; a fresh machine needs only python3 (>= 3.11).
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
UV := $(shell command -v uv 2>/dev/null || echo $(VENV)-tools/bin/uv)
RUN := $(UV) run --frozen --no-sync

.PHONY: help install install-bench demo test lint fmt bench clean

help:
	@echo "make demo   run the product on SQLite against the built-in SoftOne simulator"
	@echo "make test   run the whole test suite (SQLite and PostgreSQL)"
	@echo "make lint   ruff + mypy"
	@echo "make bench  run the benchmarks under bench/ (prints tables)"

# uv is pinned and installed into a private tools venv when the machine has none.
$(VENV)-tools/bin/uv:
	$(PYTHON) -m venv $(VENV)-tools
	$(VENV)-tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

install: $(VENV)/.installed

$(VENV)/.installed-bench: $(VENV)/.installed
	$(UV) sync --frozen --group bench
	touch $@

install-bench: $(VENV)/.installed-bench

demo: install
	$(RUN) softone-sync demo

test: install
	$(RUN) pytest $(PYTEST_ARGS)

lint: install
	$(RUN) ruff check src tests bench
	$(RUN) ruff format --check src tests bench
	$(RUN) mypy

fmt: install
	$(RUN) ruff check --fix src tests bench
	$(RUN) ruff format src tests bench

bench: install-bench
	$(RUN) python bench/run_all.py

clean:
	rm -rf $(VENV) $(VENV)-tools var .pytest_cache .mypy_cache .ruff_cache
