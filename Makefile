# One place that knows how to install bertfeat on a fresh machine.
# torch is installed first, pinned to the CPU build that lies on this machine's disk;
# an unpinned torch would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
MIN_VENV ?= .venv-min

.PHONY: setup demo test test-min test-slow bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,viz,io]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/bertfeat demo --output bertfeat-demo

test: setup
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
	$(MIN_VENV)/bin/python -m pip list 2>/dev/null | grep -iE "^(torch|transformers|tokenizers|scikit-learn|numpy|joblib|filelock|tqdm|safetensors|huggingface.hub) "
	$(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf $(VENV) $(MIN_VENV) bertfeat-demo .pytest_cache
