# make book: the paper (PROFILE=paper|quick|smoke; WORKERS=N runs its tasks on a local Dask
# cluster of N processes, empty: in the grid's own process; THREADS=T torch threads per task,
# which decide the results' last bits, default the cores). make test: lint + tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= paper
WORKERS ?=
THREADS ?=
STAMP := $(VENV)/.installed

.PHONY: venv book test lint format clean clean-cache bench check-book

venv: $(STAMP)

# Re-runs only when a requirements file or pyproject.toml changes.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

book: venv
	$(BIN)/python -m lslib.paper book/grid.yml --profile $(PROFILE) $(if $(WORKERS),--workers $(WORKERS)) $(if $(THREADS),--threads $(THREADS))
	$(BIN)/jupyter-book build . -W -n --keep-going

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/pip install -q -r requirements-bench.txt
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/surface_vs_peers.py
	$(BIN)/python benchmarks/hessian_vs_peers.py
	$(BIN)/python benchmarks/curvature_vs_peers.py

clean:
	rm -rf _build book/_executed book/_results

clean-cache:
	rm -rf .cache

# The built book in headless Chromium at 1,400 and 390 px (scripts/check_book.py).
# Needs the system Chromium (apt-get install -y chromium); installs the playwright wheel
# (requirements-check.txt, no browser download) when it is missing.
check-book: venv
	$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/pip install -q -r requirements-check.txt || true
	$(BIN)/python scripts/check_book.py _build/html
