# kuberun developer targets. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Root with unshare: run the suite in a loopback-only network namespace, where the real-Slurm
# tests can start their daemons (tests/slurm/README.md). Elsewhere those tests skip with a reason.
NETNS := $(shell unshare --net --pid --fork --mount-proc true 2>/dev/null && echo tests/slurm/netns-run)

.PHONY: setup tools kube-tools demo sandbox test test-unit test-integration test-slurm test-chaos lint crds bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup  ## run examples/hello.py end to end in the embedded sandbox (API server, node, operator)
	$(BIN)/python examples/hello.py --sandbox

sandbox: setup  ## a long-running local control plane: export KUBECONFIG=~/.kuberun/sandbox/kubeconfig
	$(BIN)/kuberun sandbox

tools:  ## what the suites need: Slurm, helm, tool venvs, a real control plane (.ci/tools.sh; Debian packages when root)
	sh .ci/tools.sh

test: setup tools lint  ## everything CI runs: installs what the suites need, then every suite
	$(NETNS) $(BIN)/python -m pytest tests

# A real etcd, kube-apiserver and kube-controller-manager for tests/realcluster, the `cluster` suite
# and `kuberun sandbox --control-plane real`: built from their Go modules once (minutes), cached in
# ~/.cache/kuberun outside the clone; a no-op when built, and when there is no Go toolchain (those
# tests then skip, saying why).
kube-tools:
	sh .ci/install-kube.sh

test-slurm: setup
	tests/slurm/netns-run $(BIN)/python -m pytest -m slurm tests/slurm

test-chaos: setup  ## SIGKILL the API server, node and operator during runs (CHAOS_SEED=N replays, CHAOS_EXPERIMENTS=N sizes)
	$(BIN)/python -m pytest -m chaos -s tests/chaos

test-unit: setup
	$(BIN)/python -m pytest tests/unit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/kuberun crd | diff -q - crds/kuberun.dev_experiments.yaml >/dev/null || (echo "crds/ drifted: run make crds" && exit 1)

crds: setup  ## regenerate crds/ from the SDK models
	$(BIN)/kuberun crd -o crds/kuberun.dev_experiments.yaml

bench: setup  ## benchmarks that print ratios (bench/slurm.py runs in tests/slurm/netns-run)
	$(BIN)/python bench/apiserver_writes.py
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/reconcile.py --n 1000
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/logstore.py
	$(BIN)/python bench/ui.py
	$(BIN)/python bench/sandbox_auth.py
	$(BIN)/python bench/results.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# --- Helm chart (helm/kuberun). helm comes from .ci/install-helm.sh into .tools/bin (a link into the user cache). ---
HELM := .tools/bin/helm
HELM_RELEASE ?= kuberun
HELM_NAMESPACE ?= kuberun-system
HELM_VALUES ?=

.PHONY: helm-tools helm-lint helm-template helm-crds

helm-tools: $(HELM)

$(HELM):
	bash .ci/install-helm.sh

helm-lint: $(HELM)  ## helm lint --strict with the defaults and every helm/kuberun/ci/*-values.yaml
	$(HELM) lint --strict helm/kuberun
	for f in helm/kuberun/ci/*-values.yaml; do $(HELM) lint --strict helm/kuberun -f $$f || exit 1; done

helm-template: $(HELM)  ## render the chart (HELM_VALUES=helm/kuberun/ci/ha-values.yaml for a variant)
	$(HELM) template $(HELM_RELEASE) helm/kuberun --namespace $(HELM_NAMESPACE) --include-crds $(if $(HELM_VALUES),-f $(HELM_VALUES))

helm-crds: crds  ## the chart ships the generated CRD byte for byte (tests/helm/test_chart.py checks)
	cp crds/kuberun.dev_experiments.yaml helm/kuberun/crds/kuberun.dev_experiments.yaml
