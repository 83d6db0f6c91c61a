# Two commands on a fresh machine: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
INSTALL_LOG := $(VENV)/install.log
# torch/torchvision pinned to the releases this project is tested with (the CUDA builds:
# they also run on CPUs, and the same venv then serves a GPU cluster node).
TORCH  := torch==2.14.1 torchvision==0.29.1
DEMO_NAME ?= laptop-$(shell date +%Y%m%d-%H%M%S)
PYTEST_ARGS ?=
# Test files run in this many processes (pytest-xdist, a file's tests together, so each
# module-scoped sweep runs once). Most of the suite waits on Ray and subprocess start-up, so
# two processes on 2 cores finish in about 0.6 of the serial time.
TEST_WORKERS ?= 2
DATA_FLAGS ?=

.PHONY: install data-check lcdb demo typecheck-tree lint docs docs-strict test test-slow bench clean

install: $(STAMP)

# pip's own output goes to $(INSTALL_LOG); its last lines are shown if it fails.
$(STAMP): pyproject.toml
	@echo "installing into $(VENV) (a few minutes; log: $(INSTALL_LOG))"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet $(TORCH) > $(INSTALL_LOG) 2>&1 || { tail -n 30 $(INSTALL_LOG); exit 1; }
	@$(PY) -m pip install --quiet -e '.[test]' >> $(INSTALL_LOG) 2>&1 || { tail -n 30 $(INSTALL_LOG); exit 1; }
	@touch $(STAMP)

# Fashion-MNIST is here (or downloaded now), else one message says how to provide it and
# make stops: the tests and the demo need it. DATA_FLAGS=--no-download never downloads.
data-check:
	@$(PY) -m datavsmath.cli data $(DATA_FLAGS)

# LCDB 1.0's real learning curves (a test input, as Fashion-MNIST): fetched once with pip from
# the package index, reduced into the user's cache folder (~/.cache/datavsmath/lcdb).
lcdb: install
	@$(PY) benchmarks/lcdb.py

# The main job: the `laptop` spec on embedded local Ray, then its report.
demo: install data-check
	$(VENV)/bin/datavsmath sweep laptop --name $(DEMO_NAME)

# The installed layout as symlinks (build/typecheck/datavsmath/...): mypy and the API reference
# read the package by its import names, which the top-level folders only take when installed.
typecheck-tree:
	@rm -rf build/typecheck && mkdir -p build/typecheck/datavsmath
	@for f in datavsmath/*.py; do ln -s ../../../$$f build/typecheck/datavsmath/; done
	@for d in trainables sweeps analysis; do ln -s ../../../$$d build/typecheck/datavsmath/$$d; done

# Style and types of the three packages (and the tests' and benchmarks' style).
lint: install typecheck-tree
	$(VENV)/bin/ruff check datavsmath trainables sweeps analysis tests benchmarks docs
	$(VENV)/bin/mypy

# The documentation site (mkdocs.yml) into build/site: the pages of docs/, the API reference from
# the docstrings, and the quickstart notebook executed (into build/docs/, unless the tests'
# notebook run has written it already).
NOTEBOOK_RUN := build/docs/quickstart.ipynb
$(NOTEBOOK_RUN): examples/quickstart.ipynb
	@mkdir -p build/docs/run
	@echo "executing examples/quickstart.ipynb (about a minute)"
	@cd build/docs/run && ../../../$(VENV)/bin/jupyter nbconvert --to notebook --execute \
		--ExecutePreprocessor.timeout=600 --output-dir .. --output quickstart.ipynb ../../../examples/quickstart.ipynb

docs: install typecheck-tree $(NOTEBOOK_RUN)
	$(VENV)/bin/mkdocs build --quiet

# As `docs`, with every warning an error: a broken link, anchor or reference fails.
docs-strict: install typecheck-tree $(NOTEBOOK_RUN)
	$(VENV)/bin/mkdocs build --quiet --strict

# Lint, then everything but the long runs (marker `slow`), then the strict documentation build
# (with the notebook the tests executed); about 10 minutes on 2 cores.
test: install data-check lcdb lint
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory docs-strict

# The long runs: full-data accuracy vs the talk, bigger kill/resume.
test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/bench_overhead.py
	$(PY) benchmarks/bench_trainers.py
	$(PY) benchmarks/bench_sweep.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache test-artifacts build
