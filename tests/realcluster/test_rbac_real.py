"""Least privilege, enforced: the operator runs as the chart's ServiceAccount under the real authorizer.

tests/integration/test_rbac_audit.py compares what the operator asked of the emulator (which
authorizes everything) with what the chart grants. Here the real kube-apiserver's RBAC authorizer
decides: the chart's rendered ServiceAccount, ClusterRole and ClusterRoleBinding are applied, the
operator authenticates with a token of that ServiceAccount, and a scenario with real task
processes goes through retries, a multi-node task (Indexed Job + headless Service), suspend,
Terminate, TTL deletion and an invalid spec. The API server's audit log then shows every request
the operator made: none may be refused (403), and every (group, resource, verb) must be granted.
"""

from __future__ import annotations

import base64
import pathlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import kuberun as kr
from kuberun.resource.constants import GROUP, PLURAL, VERSION
from tests.helm.chart import HELM, NAMESPACE, render
from tests.helpers.operator import get_experiment, phase, running_operator, wait_for
from tests.realcluster.plugin import binaries_missing

pytestmark = pytest.mark.skipif(not HELM.exists() or shutil.which("true") is None,
                                reason="helm is installed by .ci/install-helm.sh")
TIMEOUT = 90.0
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if (reason := binaries_missing()) is not None:
        pytest.skip(reason)
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path_factory.mktemp("rbac"), operator=False, control_plane="real", audit=True) as sb:
        yield sb


def _apply_chart_rbac(api: Any) -> str:
    """Create the chart's namespace-scoped and cluster RBAC objects; returns the ServiceAccount name."""
    from kubernetes import client, utils

    client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
    account = ""
    for obj in render():
        if obj["kind"] in RBAC_KINDS:
            if obj["kind"] == "ServiceAccount":
                account = obj["metadata"]["name"]
            utils.create_from_dict(api, obj, namespace=obj["metadata"].get("namespace") or NAMESPACE)
    assert account, "the chart renders no ServiceAccount"
    return account


def _token_kubeconfig(sandbox: Any, api: Any, account: str, path: pathlib.Path) -> pathlib.Path:
    from kubernetes import client

    token = client.CoreV1Api(api).create_namespaced_service_account_token(
        account, NAMESPACE, {"spec": {"expirationSeconds": 3600}}).status.token
    ca = base64.b64encode(sandbox.control_plane.ca_path.read_bytes()).decode()
    user = f"system:serviceaccount:{NAMESPACE}:{account}"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "real", "cluster": {"server": sandbox.url, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "real", "user": user}}]}))
    path.chmod(0o600)
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ask_the_record_server(kubeconfig: pathlib.Path, port: int) -> None:
    """One read through the record server with a real bearer token: the operator's TokenReview and
    SubjectAccessReview go to the real kube-apiserver (a service account may not list experiments: 403)."""
    import urllib3

    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    resp = urllib3.PoolManager(retries=False).request(
        "GET", f"http://127.0.0.1:{port}/v1/archive/namespaces/audit/experiments",
        headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    assert resp.status in (403, 503), resp.data  # reviewed (refused, or allowed with no archive configured)


def _python(code: str) -> kr.Script:
    return kr.Script(command=["python", "-c", code])


def _scenario(sandbox: Any, api: Any, tmp: pathlib.Path) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "audit"}})
    marker = tmp / "first-attempt"
    flaky = (f"import pathlib, sys; m = pathlib.Path({str(marker)!r})\n"
             "if not m.exists():\n    m.write_text('1'); sys.exit(2)")
    exp = kr.Experiment("audit", namespace="audit", ttl_seconds_after_finished=0)
    exp.add(_python(flaky), name="a", retries=1, backoff_seconds=0)
    # No torchrun here: the multi-node task's pods fail, after its Indexed Job and Service were made.
    exp.add(_python("print('never')"), name="multi",
            executor=kr.KubernetesExecutor(nodes=2, launcher="torchrun", procs_per_node=2))
    exp.add(_python("import time; time.sleep(120)"), name="long", dependencies=["a"])
    name = exp.run(kubeconfig=str(sandbox.kubeconfig))["metadata"]["name"]

    def task(task_name: str) -> dict[str, Any]:
        return next((t for t in (get_experiment(api, "audit", name).get("status") or {}).get("tasks") or []
                     if t["name"] == task_name), {})

    wait_for(lambda: task("long").get("phase") == "Running", timeout=TIMEOUT, what="the long task running")
    assert [a.get("exitCode") for a in task("a")["attempts"]] == [2, 0]
    custom.patch_namespaced_custom_object(GROUP, VERSION, "audit", PLURAL, name, {"spec": {"suspend": True}})
    wait_for(lambda: any(c["type"] == "Suspended" and c["status"] == "True"
                         for c in get_experiment(api, "audit", name)["status"]["conditions"]), timeout=TIMEOUT)
    custom.patch_namespaced_custom_object(GROUP, VERSION, "audit", PLURAL, name, {"spec": {"shutdown": "Terminate"}})
    wait_for(lambda: not custom.list_namespaced_custom_object(GROUP, VERSION, "audit", PLURAL)["items"],
             timeout=TIMEOUT, what="Cancelled, then deleted by its TTL")
    bad = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Experiment", "metadata": {"name": "cyclic"}, "spec": {"title": "c", "tasks": [
        {"name": "a", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}, "dependsOn": ["b"]},
        {"name": "b", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}, "dependsOn": ["a"]}]}}
    custom.create_namespaced_custom_object(GROUP, VERSION, "audit", PLURAL, bad)
    wait_for(lambda: phase(api, "audit", "cyclic") == "Failed", timeout=TIMEOUT)
    # A recorded, running Job deleted behind the operator's back: it confirms the loss with a get (JobLost).
    lost = kr.Experiment("lost", namespace="audit")
    # Its runner document is too large to travel in the Job: the operator makes the task ConfigMap.
    lost.add(_python("import time; time.sleep(120)  # " + "#" * 40_000), name="t")
    lost_name = lost.run(kubeconfig=str(sandbox.kubeconfig))["metadata"]["name"]

    def recorded_uid() -> str | None:
        attempts = next(iter((get_experiment(api, "audit", lost_name).get("status") or {}).get("tasks") or []), {})
        return (attempts.get("attempts") or [{}])[0].get("backendRef", {}).get("uid")

    wait_for(recorded_uid, timeout=TIMEOUT, what="the Job's UID recorded")
    client.BatchV1Api(api).delete_namespaced_job(f"{lost_name}-t-1", "audit", propagation_policy="Background")
    wait_for(lambda: phase(api, "audit", lost_name) == "Failed", timeout=TIMEOUT, what="JobLost")


def _triple(event: dict[str, Any]) -> tuple[str, str, str]:
    ref = event.get("objectRef") or {}
    resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    return ref.get("apiGroup", ""), resource, event["verb"]


def test_operator_as_the_charts_service_account_is_never_refused_and_uses_only_granted_rules(sandbox, tmp_path):
    from kubernetes import config

    from tests.helm.rbac import granted

    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    account = _apply_chart_rbac(api)
    kubeconfig = _token_kubeconfig(sandbox, api, account, tmp_path / "operator.kubeconfig")
    port = _free_port()
    with running_operator(kubeconfig, record_server_port=port, record_server_host="127.0.0.1"):
        _scenario(sandbox, api, tmp_path)
        _ask_the_record_server(kubeconfig, port)
    user = f"system:serviceaccount:{NAMESPACE}:{account}"
    events = [e for e in sandbox.control_plane.audit_events()
              if (e.get("user") or {}).get("username") == user and e.get("objectRef")]
    refused = sorted({(_triple(e), e.get("requestURI")) for e in events if (e.get("responseStatus") or {}).get("code") == 403})
    used = {_triple(e) for e in events}
    grants = granted()
    assert refused == [], f"the real authorizer refused the operator: {refused}"
    assert used - grants == set(), f"the operator used permissions the chart does not grant: {sorted(used - grants)}"
    assert grants - used == set(), f"the chart grants permissions the operator never used: {sorted(grants - used)}"
