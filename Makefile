# The kit's commands. `make demo` and `make test` set everything up on a fresh
# machine: they create .venv with the pinned packages of pyproject.toml when it
# is missing (or older than pyproject.toml).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=
# The course id, read from nbgrader_config.py (the one place it is written)
COURSE_ID := $(shell sed -n 's/^c\.CourseDirectory\.course_id = "\(.*\)"$$/\1/p' nbgrader_config.py)

.PHONY: help venv sandbox demo test lint format build train train-mnist1d train-mnist bench lab clean \
        clean-grades bench-feedback

help:
	@echo "make demo           build the release and grade the sample class through nbgrader"
	@echo "make test           lint and run the kit's tests"
	@echo "make build          solution cells from solutions/, helper copies, release/ (nbgrader)"
	@echo "make train          train the reference CNN on MNIST-1D (generated offline)"
	@echo "make train-mnist    train on the embedded MNIST subset (784-sample sequences)"
	@echo "make bench          time the reference against PyTorch, and grading (installs torch==2.13.0)"
	@echo "make bench-feedback time to feedback for a burst of 300 submissions, and the sizing for it"
	@echo "make lab            JupyterLab as a student sees it, on a working copy of release/ in lab/"
	@echo "make lint | format  ruff check | ruff format"
	@echo "make clean          remove caches and runs/ (keeps .venv, submissions, LMS downloads, feedback, gradebook)"
	@echo "make clean-grades CONFIRM=yes   delete submitted/ autograded/ feedback/ gradebook.db grades.csv"

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

print-course-id:
	@echo $(COURSE_ID)

# Grading runs every submission in a bubblewrap sandbox (autograder/isolation.py).
# As root (CI, Docker, a hub), install Debian's bubblewrap and python3-seccomp when missing;
# otherwise say how: grading refuses to run without a sandbox.
sandbox:
	@command -v bwrap >/dev/null && /usr/bin/python3 -c "import seccomp" 2>/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -qq bubblewrap python3-seccomp >/dev/null 2>&1 || \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    bubblewrap python3-seccomp)); \
	else \
	  echo "bubblewrap (bwrap) or libseccomp's Python bindings are missing: grading needs" \
	       "both. Install them: sudo apt-get install bubblewrap python3-seccomp" \
	       "(Debian/Ubuntu), sudo dnf install bubblewrap python3-libseccomp (Fedora)"; \
	  exit 1; \
	fi

demo: sandbox build
	$(PY) -m course demo

build: venv
	$(PY) -m course build

train: venv
	$(PY) -m course train --dataset mnist1d

train-mnist1d: train

train-mnist: venv
	$(PY) -m course train --dataset mnist

# JupyterLab as a student sees it, on $(LAB) (lab/, ignored by git): the
# student's working copy. A stage missing there is released into a local
# exchange ($(LAB)/.exchange) and fetched into $(LAB)/<stage> by nbgrader, as a
# student would fetch it; stages already there keep the student's answers.
# The student's submissions go to that exchange too (cache: $(LAB)/.cache).
# Every stage is released at once, so past course/release_guard.py (forced).
# Jupyter's user settings live in $(LAB)/.jupyter: nbgrader's instructor
# extensions (formgrader, course list, create assignment) off, the student's
# (assignment list, Validate) on. The server runs in $(LAB), so neither
# nbgrader nor the kernels load the kit's nbgrader_config.py.
LAB        ?= lab
LAB_STAGES ?= $(patsubst release/%/,%,$(wildcard release/*/))
LAB_ARGS   ?=
LAB_ENV     = JUPYTER_CONFIG_DIR=$(abspath $(LAB))/.jupyter
lab: venv
	mkdir -p $(LAB)/.jupyter
	printf 'c = get_config()\nc.Exchange.root = "%s/.exchange"\nc.Exchange.cache = "%s/.cache"\n%s\n' \
	  "$(abspath $(LAB))" "$(abspath $(LAB))" \
	  "c.Execute.timeout = 900  # Validate: stage 5 trains for minutes" \
	  > $(LAB)/.jupyter/nbgrader_config.py
	for s in $(LAB_STAGES); do \
	  test -d $(LAB)/$$s && continue; \
	  (cd $(LAB) && $(LAB_ENV) $(abspath $(PY)) -m nbgrader release_assignment $$s \
	    --CourseDirectory.root=$(CURDIR) --course=$(COURSE_ID) --force --log-level=ERROR \
	    --GuardedReleaseAssignment.allow_open_answers=True \
	    && $(LAB_ENV) $(abspath $(PY)) -m nbgrader fetch_assignment $$s --course=$(COURSE_ID) \
	    --log-level=ERROR) || exit 1; \
	done
	$(LAB_ENV) $(VENV)/bin/jupyter labextension disable --level=user --log-level=ERROR \
	  @jupyter/nbgrader:formgrader @jupyter/nbgrader:course-list \
	  @jupyter/nbgrader:create-assignment
	cd $(LAB) && $(LAB_ENV) exec $(abspath $(VENV))/bin/jupyter lab \
	  --ServerApp.jpserver_extensions="{'nbgrader.server_extensions.formgrader': False, \
	  'nbgrader.server_extensions.course_list': False}" \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

lint: venv
	$(PY) -m ruff check .

format: venv
	$(PY) -m ruff format .

test: sandbox venv lint
	$(PY) -m pytest $(PYTEST_ARGS)

# PyTorch is a benchmark peer only, never a dependency of the kit. Both it and
# numpy's OpenBLAS get the machine's 2 threads (see course/bench.py).
bench: venv
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	OPENBLAS_NUM_THREADS=2 $(PY) -m course bench --training --grading --json docs/benchmark.json

# The feedback service under a burst (course/bench_feedback.py; docs/feedback.md).
bench-feedback: sandbox venv
	$(PY) -m course.bench_feedback --size 300 --json docs/feedback_bench.json

# Never the course's grading state nor the LMS downloads (downloaded/: the roster,
# the submissions): a term's submissions, feedback and grades go only with
# clean-grades, which names them and needs CONFIRM=yes.
clean:
	rm -rf runs solution .pytest_cache .ruff_cache

GRADING_STATE = submitted autograded feedback gradebook.db grades.csv
clean-grades:
	@echo "clean-grades deletes the grading state of the course in $(CURDIR):"
	@for f in $(GRADING_STATE); do test -e $$f && echo "  $$f" || true; done
	@test "$(CONFIRM)" = yes || { echo "nothing deleted: run 'make clean-grades CONFIRM=yes' to" \
	  "delete them (export first: nbgrader export)"; exit 1; }
	rm -rf $(GRADING_STATE)
