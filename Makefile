# kuberun developer targets. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Root with unshare: run the suite in a loopback-only network namespace, where the real-Slurm
# tests can start their daemons (tests/slurm/README.md). Elsewhere those tests skip with a reason.
NETNS := $(shell unshare --net --pid --fork --mount-proc true 2>/dev/null && echo tests/slurm/netns-run)

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
	$(NETNS) $(BIN)/python -m pytest tests

test-slurm: setup
	tests/slurm/netns-run $(BIN)/python -m pytest -m slurm tests/slurm

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
