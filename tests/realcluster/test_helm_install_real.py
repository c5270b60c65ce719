"""The README's cluster path for real: ``helm install`` against a real kube-apiserver (helm speaks
protobuf, which the emulator does not), then the operator, as the chart's ServiceAccount with the
arguments the chart gives it, runs the YAML example to Succeeded; ``helm uninstall`` removes it all.

No Deployment controller runs (its pods would become local processes), so the operator runs
in-process instead of from the Deployment's pod.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.chart import CHART, HELM, NAMESPACE, RELEASE, operator_workload
from tests.realcluster.plugin import binaries_missing
from tests.realcluster.test_rbac_real import _token_kubeconfig

KUBECTL = "/usr/bin/kubectl"
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not HELM.exists() or not Path(KUBECTL).exists(),
                                reason="needs helm (.ci/install-helm.sh) and kubectl")


@pytest.fixture()
def sandbox(tmp_path: Path) -> Iterator[Any]:
    if (reason := binaries_missing()) is not None:
        pytest.skip(reason)
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path / "sb", operator=False, control_plane="real") as sb:
        yield sb


def _run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)


def test_helm_install_on_the_real_control_plane_and_its_operator_runs_an_experiment(sandbox, tmp_path):
    from kubernetes import config

    from kuberun_operator.__main__ import parse_args
    from tests.helpers.operator import running_operator, wait_for

    helm = [str(HELM), "--kubeconfig", str(sandbox.kubeconfig)]
    kubectl = [KUBECTL, "--kubeconfig", str(sandbox.kubeconfig)]
    installed = _run(*helm, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace")
    assert installed.returncode == 0, installed.stderr
    assert "STATUS: deployed" in installed.stdout
    docs = [d for d in yaml.safe_load_all(_run(*helm, "get", "manifest", RELEASE, "-n", NAMESPACE).stdout) if d]
    for doc in docs:
        got = _run(*kubectl, "get", doc["kind"].lower(), doc["metadata"]["name"], "-n",
                   doc["metadata"].get("namespace", NAMESPACE), "-o", "name")
        assert got.returncode == 0, f"{doc['kind']}/{doc['metadata']['name']}: {got.stderr}"
    workload = operator_workload(docs)
    account = workload["spec"]["template"]["spec"]["serviceAccountName"]
    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    operator_kubeconfig = _token_kubeconfig(sandbox, api, account, tmp_path / "operator.kubeconfig")
    container = workload["spec"]["template"]["spec"]["containers"][0]
    settings = parse_args([*container.get("args", []), "--kubeconfig", str(operator_kubeconfig)])
    with running_operator(operator_kubeconfig, **{k: getattr(settings, k) for k in ("namespaces", "default_image", "peering")}):
        applied = _run(*kubectl, "apply", "-f", str(ROOT / "examples" / "hello.yaml"))
        assert applied.returncode == 0, applied.stderr

        def phase() -> str:
            out = _run(*kubectl, "get", "krexp", "hello-yaml", "-o", "jsonpath={.status.phase}").stdout
            return out if out in ("Succeeded", "Failed") else ""

        assert wait_for(phase, timeout=90, what="hello-yaml") == "Succeeded"
    selector = ("clusterrolebindings,serviceaccounts", "-A", "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "name")
    assert _run(*kubectl, "get", *selector).stdout.strip(), "the chart's objects carry no instance label"
    removed = _run(*helm, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "60s")
    assert removed.returncode == 0, removed.stderr
    left = _run(*kubectl, "get", *selector)
    assert left.returncode == 0 and left.stdout.strip() == "", left.stdout + left.stderr
