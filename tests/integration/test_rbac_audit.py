"""Least privilege, proven: what the operator really asked of the API equals what the chart grants.

A dedicated API server records every request with its User-Agent; the operator (kopf's watches
and the controller's client) runs a scenario that exercises every code path that talks to the
API — Jobs created, finished, failed, retried, suspended, terminated; a multi-node Service; an
invalid spec; TTL deletion; Events. The (apiGroup, resource, verb) triples it used must be
exactly those the Helm chart's default (cluster-wide) RBAC grants — and it runs as the chart's
ServiceAccount with the chart's rendered ClusterRoles applied, so the API server enforces them: a
missing rule is a 403 the scenario fails on, not just a difference in a set. The operator's record
server takes part (one authenticated read: its TokenReview and SubjectAccessReview).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.resource.constants import GROUP, PLURAL, VERSION
from tests.fixtures import tasks
from tests.helpers.chart_account import as_chart_service_account
from tests.helpers.jobs import finish_job, list_jobs, start_job
from tests.helpers.operator import ensure_crd, get_experiment, phase, running_operator, wait_for

HELM = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "helm"
OPERATOR_AGENTS = ("kopf/", "kuberun-operator/")


def _jobs(api: Any, ns: str, name: str) -> list[str]:
    return sorted(j["metadata"]["name"] for j in list_jobs(api, ns, f"kuberun.dev/experiment={name}"))


def _scenario(kubeconfig: Path, api: Any, server: Any) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "audit"}})
    exp = kr.Experiment("audit", namespace="audit", ttl_seconds_after_finished=0)
    exp.add(kr.Partial(tasks.add, a=1), name="a", retries=1, backoff_seconds=0)
    exp.add(kr.Partial(tasks.add, a=2), name="b", dependencies=["a"],
            executor=kr.KubernetesExecutor(nodes=2, launcher="torchrun", procs_per_node=2))
    name = exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]
    (first,) = wait_for(lambda: _jobs(api, "audit", name))
    finish_job(api, "audit", first, exit_code=2)  # failure: pods are listed for the exit code
    wait_for(lambda: f"{name}-a-2" in _jobs(api, "audit", name))
    finish_job(api, "audit", f"{name}-a-2")
    second = wait_for(lambda: [j for j in _jobs(api, "audit", name) if "-b-" in j])[0]
    start_job(api, "audit", second)
    custom.patch_namespaced_custom_object(GROUP, VERSION, "audit", PLURAL, name, {"spec": {"suspend": True}})
    wait_for(lambda: any(c["type"] == "Suspended" and c["status"] == "True"
                         for c in get_experiment(api, "audit", name)["status"]["conditions"]))
    custom.patch_namespaced_custom_object(GROUP, VERSION, "audit", PLURAL, name, {"spec": {"shutdown": "Terminate"}})
    wait_for(lambda: not custom.list_namespaced_custom_object(GROUP, VERSION, "audit", PLURAL)["items"], what="Cancelled, then deleted by its TTL")
    bad = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Experiment", "metadata": {"name": "cyclic"}, "spec": {"title": "c", "tasks": [
        {"name": "a", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}, "dependsOn": ["b"]},
        {"name": "b", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}, "dependsOn": ["a"]}]}}
    custom.create_namespaced_custom_object(GROUP, VERSION, "audit", PLURAL, bad)
    wait_for(lambda: phase(api, "audit", "cyclic") == "Failed")
    # A status patch whose precondition fails: the Experiment is read again (get).
    server.inject(status=409, times=1, verb="patch", resource="experiments", namespace="audit")
    lost = kr.Experiment("lost", namespace="audit")
    # A runner document too large to travel in its Job: the operator creates the task ConfigMap.
    lost.add(kr.Script(inline="true " + "#" * 40_000), name="t")
    lost_name = lost.run(kubeconfig=str(kubeconfig))["metadata"]["name"]
    (job,) = wait_for(lambda: _jobs(api, "audit", lost_name))
    wait_for(lambda: ((get_experiment(api, "audit", lost_name).get("status") or {}).get("tasks") or [{}])[0]
             .get("attempts", [{}])[0].get("backendRef", {}).get("uid"), what="the Job's UID recorded")
    # A recorded Job deleted behind the operator's back: it confirms the loss with a get.
    from kubernetes import client as k8s

    k8s.BatchV1Api(api).delete_namespaced_job(job, "audit")
    wait_for(lambda: phase(api, "audit", lost_name) == "Failed", what="JobLost")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ask_the_record_server(server: Any, port: int) -> None:
    """One read through the record server: a TokenReview and a SubjectAccessReview, as the chart's account."""
    import urllib3

    from tests.helpers.auth import admin_headers

    resp = urllib3.PoolManager(retries=False).request(
        "GET", f"http://127.0.0.1:{port}/v1/archive/namespaces/audit/experiments", headers=admin_headers(server), timeout=30.0)
    assert resp.status == 503 and b"no archive" in resp.data, resp.data  # reviewed and allowed; no archive configured


def _refused(log: list[Any]) -> list[tuple[str, str, str | None, str]]:
    return sorted({(r.group, r.resource, r.subresource, r.verb) for r in log
                   if r.code == 403 and r.user_agent.startswith(OPERATOR_AGENTS)})


@pytest.mark.skipif(not HELM.exists() or shutil.which("true") is None, reason="helm is installed by .ci/install-helm.sh")
def test_operator_uses_exactly_the_permissions_the_chart_grants(tmp_path):
    from kubernetes import config

    from kuberun_sandbox.apiserver import run_in_thread
    from kuberun_sandbox.kubeconfig import write_kubeconfig
    from tests.helm.rbac import granted

    with run_in_thread() as server:
        kubeconfig = write_kubeconfig(tmp_path / "config", server.url)
        api = config.new_client_from_config(config_file=str(kubeconfig))
        ensure_crd(api)
        operator_kubeconfig = as_chart_service_account(server, api, tmp_path)
        port = _free_port()
        with running_operator(operator_kubeconfig, record_server_port=port, record_server_host="127.0.0.1"):
            try:
                _scenario(kubeconfig, api, server)
                _ask_the_record_server(server, port)
            except AssertionError as e:
                raise AssertionError(f"{e}; refused: {_refused(server.request_log)}") from e
        operator_requests = [r for r in server.request_log if r.resource and r.user_agent.startswith(OPERATOR_AGENTS)]
        used = {(r.group, r.resource + (f"/{r.subresource}" if r.subresource else ""), r.verb) for r in operator_requests}
    assert _refused(operator_requests) == [], "the API server refused the operator (RBAC enforced)"
    grants = granted()
    assert used - grants == set(), f"the operator needs permissions the chart does not grant: {sorted(used - grants)}"
    assert grants - used == set(), f"the chart grants permissions the operator never used: {sorted(grants - used)}"
