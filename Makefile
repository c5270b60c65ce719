# kuberun developer targets. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-unit test-integration test-slurm lint crds bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup  ## run examples/hello.py end to end
	$(BIN)/python examples/hello.py --local

test: setup lint  ## everything CI runs
	$(BIN)/python -m pytest tests

test-unit: setup
	$(BIN)/python -m pytest tests/unit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/kuberun crd | diff -q - crds/kuberun.dev_experiments.yaml >/dev/null || (echo "crds/ drifted: run make crds" && exit 1)

crds: setup  ## regenerate crds/ from the SDK models
	$(BIN)/kuberun crd -o crds/kuberun.dev_experiments.yaml

bench: setup
	$(BIN)/python bench/import_time.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
