# The kit's commands. `make demo` and `make test` set everything up on a fresh
# machine: they create .venv with the pinned packages of pyproject.toml when it
# is missing (or older than pyproject.toml).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help venv demo test lint format build train train-mnist1d train-mnist bench clean

help:
	@echo "make demo           build the release and grade the sample class through nbgrader"
	@echo "make test           lint and run the kit's tests"
	@echo "make build          solution cells from solutions/, helper copies, release/ (nbgrader)"
	@echo "make train          train the reference CNN on MNIST-1D (generated offline)"
	@echo "make train-mnist    train on the embedded MNIST subset (784-sample sequences)"
	@echo "make bench          time the reference against PyTorch (installs torch==2.13.0 into .venv)"
	@echo "make lint | format  ruff check | ruff format"
	@echo "make clean          remove run-time state (keeps .venv)"

# The virtual environment holds only third-party packages: the kit itself is
# imported from the working tree, never installed, so that student code run
# elsewhere cannot import the solutions.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	print('\n'.join(p['dependencies'] + p['optional-dependencies']['dev']))" > $(VENV)/requirements.txt
	$(PY) -m pip install --quiet --no-warn-script-location -r $(VENV)/requirements.txt 2>&1 \
	  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
	touch $@

venv: $(VENV)/.installed

demo: build
	$(PY) -m course demo

build: venv
	$(PY) -m course build

train: venv
	$(PY) -m course train --dataset mnist1d

train-mnist1d: train

train-mnist: venv
	$(PY) -m course train --dataset mnist

lint: venv
	$(PY) -m ruff check .

format: venv
	$(PY) -m ruff format .

test: venv lint
	$(PY) -m pytest $(PYTEST_ARGS)

# PyTorch is a benchmark peer only, never a dependency of the kit. Both it and
# numpy's OpenBLAS get the machine's 2 threads (see course/bench.py).
bench: venv
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	OPENBLAS_NUM_THREADS=2 $(PY) -m course bench --training --json docs/benchmark.json

clean:
	rm -rf runs submitted autograded feedback gradebook.db .pytest_cache .ruff_cache
