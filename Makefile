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

MIN_VENV ?= .venv-min

.PHONY: setup setup-demo demo test test-min test-slow bench clean

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

# The declared minimum versions (pyproject.toml floors of the runtime and dev dependencies,
# pinned by tools/min_versions.py) in a venv of their own, then the fast tests. torch stays the local CPU wheel (TORCH_SPEC):
# the floor's wheels on the index are multi-GB CUDA builds.
test-min:
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)"
	$(PYTHON) tools/min_versions.py --extras dev > $(MIN_VENV)/constraints.txt
	$(MIN_VENV)/bin/python -m pip install -q -c $(MIN_VENV)/constraints.txt -e ".[dev]"
	$(MIN_VENV)/bin/python -m pip list 2>/dev/null | grep -iE "^(torch|transformers|tokenizers|scikit-learn|numpy|joblib|filelock|tqdm|safetensors|huggingface.hub|pandas|umap-learn|numba) "
	$(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider

test-slow: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(DEV_STAMP)
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf $(VENV) $(MIN_VENV) bertfeat-demo .pytest_cache
