# One place that knows how to install bertfeat on a fresh machine.
# torch is installed first, pinned to the CPU build that lies on this machine's disk;
# an unpinned torch would pull a multi-GB CUDA build.
#
# Two installs, each with its own stamp so that one never passes for the other:
#   $(VENV)/.installed-demo  the runtime + the "viz" extra: what `make demo` needs
#   $(VENV)/.installed       everything for development ("dev", "viz", "io" extras:
#                            pytest, hypothesis, dask, onnxruntime, ...): `make test`
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
DEV_STAMP := $(VENV)/.installed

.PHONY: setup setup-demo demo test test-slow bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[viz]"
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,viz,io]"
	touch $@ $(DEMO_STAMP)

setup-demo: $(DEMO_STAMP)

setup: $(DEV_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/bertfeat demo --output bertfeat-demo

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(DEV_STAMP)
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf $(VENV) bertfeat-demo .pytest_cache
