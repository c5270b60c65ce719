"""The README's cluster path, on the sandbox: render the chart, `kubectl apply` it, run what it deploys.

Helm itself cannot target the emulator (helm speaks protobuf to the API), so the chart is rendered
with the real `helm template --include-crds` and applied with the real kubectl; the operator then
runs in-process with exactly the arguments the rendered Deployment gives it, and the YAML example
runs to Succeeded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import CHART, HELM, NAMESPACE, RELEASE, helm, operator_workload

KUBECTL = "/usr/bin/kubectl"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not HELM.exists() or not Path(KUBECTL).exists(), reason="needs helm (.ci/install-helm.sh) and kubectl")
def test_rendered_chart_applies_and_its_operator_runs_an_experiment(tmp_path):
    from kuberun_operator.__main__ import parse_args
    from kuberun_sandbox import Sandbox
    from tests.helpers.operator import running_operator, wait_for

    manifest = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds")
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    with Sandbox(data_dir=tmp_path, operator=False) as sandbox:
        kubectl = [KUBECTL, "--kubeconfig", str(sandbox.kubeconfig)]
        # (`kubectl create namespace` sends protobuf, which the emulator does not speak; apply sends JSON)
        namespace = yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        subprocess.run([*kubectl, "apply", "-f", "-"], input=namespace, text=True, check=True, capture_output=True, timeout=30)
        # The sandbox serves no Deployments (it has no controller to roll one out): the operator the
        # chart's Deployment describes runs in-process below, with the Deployment's own arguments.
        served = [d for d in docs if d["kind"] != "Deployment"]
        applied = subprocess.run([*kubectl, "apply", "-f", "-"], input=yaml.safe_dump_all(served),
                                 capture_output=True, text=True, timeout=60)
        assert applied.returncode == 0, applied.stderr
        for doc in served:  # every other object the chart renders is now in the API
            ns = ["-n", doc["metadata"].get("namespace", NAMESPACE)]
            got = subprocess.run([*kubectl, "get", doc["kind"].lower(), doc["metadata"]["name"], *ns, "-o", "name"],
                                 capture_output=True, text=True, timeout=30)
            assert got.returncode == 0, f"{doc['kind']}/{doc['metadata']['name']}: {got.stderr}"
        container = operator_workload(docs)["spec"]["template"]["spec"]["containers"][0]
        settings = parse_args([*container.get("args", []), "--kubeconfig", str(sandbox.kubeconfig)])
        with running_operator(sandbox.kubeconfig, **{k: getattr(settings, k) for k in ("namespaces", "default_image", "peering")}):
            subprocess.run([*kubectl, "apply", "-f", str(ROOT / "examples" / "hello.yaml")], check=True, capture_output=True, timeout=60)

            def phase() -> str:
                out = subprocess.run([*kubectl, "get", "krexp", "hello-yaml", "-o", "jsonpath={.status.phase}"],
                                     capture_output=True, text=True, timeout=30).stdout
                return out if out in ("Succeeded", "Failed") else ""

            assert wait_for(phase, timeout=60, what="hello-yaml") == "Succeeded"
