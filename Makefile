# Two commands for a new user: `make demo` and `make test`. Both create .venv when it is missing.
# torch is installed first and pinned: on these machines torch==2.13.0 is a local CPU build, whereas an
# unpinned torch (asked for by a dependency) would pull a multi-gigabyte CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Each demo gets its own run folder (a run folder is never overwritten: it holds labels).
demo: $(STAMP)
	$(BIN)/prefrl train --env CartPole-v1 --out runs/demo-$$(date +%Y%m%d-%H%M%S)

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs build *.egg-info
