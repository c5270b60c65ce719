"""kubectl's everyday commands against a sandbox (API server + node), as issue 12 lists them.

``create ns|configmap|secret`` (protobuf: refused with the JSON way named), ``patch svc`` (strategic
merge by merge key), ``get -o wide`` (the server's columns), ``logs job/X`` (the Job's selector),
``apply --server-side`` (conflicts), ``delete pod`` (graceful, confirmed by the node). Uses the
kubectl of .tools (v1.35, .ci's install) or the one on PATH.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBECTL = next((str(p) for p in (ROOT / ".tools" / "bin" / "kubectl",) if p.exists()), None) or shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (.ci/install-helm.sh puts one in .tools)")


def _job(name: str, command: str) -> str:
    return f"""apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: main, image: python:3.11, command: ["python", "-c", "{command}"]}}]
"""


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from kuberun_sandbox import Sandbox

    data = tmp_path_factory.mktemp("sandbox")
    with Sandbox(data_dir=data, operator=False) as sandbox:
        cache = data / "kubectl-cache"

        def run(*args: str, stdin: str | None = None, check: bool = True, timeout: float = 30) -> Any:
            cmd = [str(KUBECTL), "--kubeconfig", str(sandbox.kubeconfig), "--cache-dir", str(cache), *args]
            result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
            if check:
                assert result.returncode == 0, result.stderr
            return result

        yield run


def test_create_namespace_says_the_sandbox_speaks_json_and_the_json_way_works(kubectl: Any) -> None:
    refused = kubectl("create", "namespace", "proto", check=False)
    assert refused.returncode != 0 and "speaks JSON" in refused.stderr and "kubectl apply -f" in refused.stderr
    manifest = kubectl("create", "namespace", "viajson", "--dry-run=client", "-o", "yaml").stdout
    kubectl("apply", "-f", "-", stdin=manifest)
    assert kubectl("get", "namespace", "viajson", "-o", "name").stdout.strip() == "namespace/viajson"
    for kind in (["configmap", "c1", "--from-literal=a=1"], ["secret", "generic", "s1", "--from-literal=p=x"]):
        assert "speaks JSON" in kubectl("create", *kind, check=False).stderr


def test_patch_svc_adds_a_port_and_get_wide_shows_it(kubectl: Any) -> None:
    kubectl("apply", "-f", "-", stdin="apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
                                      "spec: {selector: {app: web}, ports: [{name: http, port: 80}]}\n")
    kubectl("patch", "svc", "web", "-p", '{"spec":{"ports":[{"name":"metrics","port":9090}]}}')
    out = kubectl("get", "svc", "web", "-o", "wide").stdout.splitlines()
    assert out[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert "80/TCP,9090/TCP" in out[1] and "app=web" in out[1]


def test_logs_job_picks_that_jobs_pod_and_get_wide_has_real_columns(kubectl: Any) -> None:
    kubectl("apply", "-f", "-", stdin=_job("hello", "print('from hello')") + "---\n" + _job("other", "print('from other')"))
    kubectl("wait", "--for=condition=complete", "job/hello", "job/other", "--timeout=60s", timeout=90)
    assert kubectl("logs", "job/hello").stdout.strip() == "from hello"
    assert kubectl("logs", "job/other").stdout.strip() == "from other"
    pods = kubectl("get", "pods", "-o", "wide").stdout.splitlines()
    assert pods[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] and "NOMINATED" in pods[0]
    jobs = kubectl("get", "jobs", "-o", "wide").stdout.splitlines()
    assert jobs[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert "Complete" in jobs[1] and "batch.kubernetes.io/controller-uid=" in jobs[1]


def test_apply_server_side_reports_a_conflict_and_force_takes_over(kubectl: Any) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: '1'}\n"
    kubectl("apply", "--server-side", "-f", "-", stdin=manifest)
    kubectl("patch", "configmap", "ssa", "-p", '{"data":{"a":"2"}}')
    conflict = kubectl("apply", "--server-side", "-f", "-", stdin=manifest, check=False)
    assert conflict.returncode != 0 and 'conflict with "kubectl-patch"' in conflict.stderr
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=manifest)
    assert kubectl("get", "configmap", "ssa", "-o", "jsonpath={.data.a}").stdout == "1"


def test_delete_pod_is_graceful_and_the_node_confirms_it(kubectl: Any) -> None:
    kubectl("apply", "-f", "-", stdin=_job("sleeper", "import time; time.sleep(300)"))
    kubectl("wait", "--for=jsonpath={.status.phase}=Running", "pod", "-l", "job-name=sleeper", "--timeout=60s",
            timeout=90)
    name = kubectl("get", "pods", "-l", "job-name=sleeper", "-o", "name").stdout.split()[0]
    kubectl("delete", name, "--timeout=30s", timeout=60)  # returns once the node stopped the process and confirmed
    assert kubectl("get", name, check=False).returncode != 0
