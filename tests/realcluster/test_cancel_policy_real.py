"""The chart's admission policy on a real kube-apiserver: who cancels a task (``spec.cancelTasks[].by``) is the
authenticated user — the CEL the sandbox evaluates with cel-python, here evaluated by Kubernetes' own."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from kuberun.resource.constants import GROUP, PLURAL
from tests.fixtures import tasks

NS = "cancels"
POLICY = "sandbox/kuberun_sandbox/apiserver/auth/data/submitter-policy.yaml"  # generated from the chart (tests/helm/sandbox_data.py)


@pytest.fixture(scope="module")
def admin(real_control_plane: Any) -> Any:
    from kubernetes import client, config

    from tests.helpers.operator import ensure_crd

    api = config.new_client_from_config(config_file=str(real_control_plane.admin_kubeconfig))
    ensure_crd(api)  # the real API server accepts the CRD with cancelTasks (a list-type map) and its rules
    client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
    adm = client.AdmissionregistrationV1Api(api)
    with open(POLICY) as f:
        policy, binding = yaml.safe_load(f)
    adm.create_validating_admission_policy(policy)
    adm.create_validating_admission_policy_binding(binding)
    client.RbacAuthorizationV1Api(api).create_cluster_role({"metadata": {"name": "experiments-edit"}, "rules": [
        {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch", "create", "patch", "update"]}]})
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(NS, {
        "metadata": {"name": "team-experiments"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                              "name": "experiments-edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team"}]})
    return api


def _until(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # RBAC and a new policy reach the API server's caches within moments


def test_a_real_api_server_holds_by_to_the_caller_and_keeps_earlier_requests(real_control_plane, admin):
    import kuberun as kr
    from kuberun.api import JSON_PATCH, Op, connect
    from kuberun.manage.query import experiment_path

    alice_cfg = real_control_plane.user_kubeconfig("alice", ("team",), namespace=NS)
    bob_cfg = real_control_plane.user_kubeconfig("bob", ("team",), namespace=NS)
    alice, bob = connect(str(alice_cfg), namespace=NS), connect(str(bob_cfg), namespace=NS)

    def submit(title: str) -> str:
        exp = kr.Experiment(title, namespace=NS)
        for name in ("a", "b", "c"):
            exp.add(kr.Partial(tasks.add, a=1), name=name)
        return _until(lambda: exp.run(kubeconfig=str(alice_cfg)))["metadata"]["name"]

    def ask(kube: Any, name: str, task: str, by: str, first: bool = False) -> dict[str, Any]:
        # The request as the wire carries it, not `lifecycle.cancel_task`: that skips the write for a task already
        # finished, and in the whole suite an operator on this control plane may finish (or fail) these tasks.
        entry = {"task": task, "by": by}
        op = {"op": "add", "path": "/spec/cancelTasks", "value": [entry]} if first else \
            {"op": "add", "path": "/spec/cancelTasks/-", "value": entry}
        return kube.request("PATCH", experiment_path(NS, name), Op("patch", PLURAL), content_type=JSON_PATCH, body=[op])

    def refused_spoof() -> None:
        # A new policy reaches the API server's admission within moments. Each try spoofs on an Experiment of its own:
        # a spoof let through before enforcement began is then on record.
        # Not `pytest.raises` here: its failure is a BaseException, which `_until` would not retry.
        probe = submit("probe")
        try:
            ask(bob, probe, "b", "alice", first=True)
        except kr.KuberunError as exc:
            assert "may name in `by` only the authenticated user" in str(exc), exc
            return
        raise AssertionError("the policy is not enforced yet: the spoof was let through")

    _until(refused_spoof)
    name = submit("cancels")
    with pytest.raises(kr.KuberunError, match="may name in `by` only the authenticated user"):
        ask(bob, name, "b", "alice", first=True)
    ask(alice, name, "a", "alice", first=True)
    after = ask(bob, name, "c", "bob")  # alice's earlier entry is kept: bob may add beside it
    assert after["spec"]["cancelTasks"] == [{"task": "a", "by": "alice"}, {"task": "c", "by": "bob"}]
    # Withdrawal is harmless (a finished phase is final) and permitted; an edit that names someone else is not.
    with pytest.raises(kr.KuberunError, match="may name in `by` only the authenticated user"):
        bob.request("PATCH", experiment_path(NS, name), Op("patch", PLURAL), content_type=JSON_PATCH,
                    body=[{"op": "replace", "path": "/spec/cancelTasks/0/by", "value": "mallory"}])
