"""Admission as an attacker meets it: a spoofed ``spec.submittedBy`` (refused by the chart's
ValidatingAdmissionPolicy, evaluated in CEL against ``request.userInfo``), a privileged pod in a
namespace enforcing Pod Security ``restricted`` or ``baseline`` (refused with the real message, and
never run), and the policy machinery itself (failurePolicy, validationActions, params, matchConditions).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

import kuberun as kr
from kuberun.resource.constants import GROUP, PLURAL, VERSION
from kuberun_sandbox import Sandbox
from tests.fixtures import tasks
from tests.integration.sandbox_auth import call, marker_pod, node_caught_up, token_of

ADM = "admissionregistration.k8s.io"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), operator=False) as sb:
        yield sb


@pytest.fixture(scope="module")
def users(sandbox: Sandbox) -> dict[str, pathlib.Path]:
    return {"alice": sandbox.mint_user("alice", namespace="team-a"), "bob": sandbox.mint_user("bob", namespace="team-b")}


@pytest.fixture(scope="module")
def admin(sandbox: Sandbox) -> Iterator[Any]:
    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    yield api
    api.close()


def _experiment(title: str, submitted_by: str | None, namespace: str) -> dict[str, Any]:
    exp = kr.Experiment(title, namespace=namespace)
    exp.add(kr.Partial(tasks.add, a=1), name="a")
    exp.submitted_by = submitted_by
    resource, _ = exp.build()
    body: dict[str, Any] = resource.to_dict()
    if submitted_by is None:
        body["spec"].pop("submittedBy", None)
    return body


def _create_as(kubeconfig: pathlib.Path, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        created: dict[str, Any] = client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        return created
    finally:
        api.close()


def _names(admin: Any, namespace: str) -> list[str]:
    return [e["metadata"]["name"] for e in client.CustomObjectsApi(admin).list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]]


# --- the submitter nobody can spoof -----------------------------------------------------------
def test_alice_cannot_submit_as_bob_and_nothing_is_created(users, admin):
    with pytest.raises(ApiException) as err:
        _create_as(users["alice"], "team-a", _experiment("spoof", "bob", "team-a"))
    body = json.loads(err.value.body)
    assert (err.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"].startswith('experiments.kuberun.dev "spoof-')
    assert body["message"].endswith("is forbidden: ValidatingAdmissionPolicy 'kuberun-submitter' with binding "
                                    "'kuberun-submitter' denied request: spec.submittedBy must be the authenticated "
                                    'user "alice", not "bob"')
    assert not [n for n in _names(admin, "team-a") if n.startswith("spoof")]


def test_bob_cannot_submit_as_alice_but_each_may_submit_as_themselves(users, admin):
    with pytest.raises(ApiException) as err:
        _create_as(users["bob"], "team-b", _experiment("spoof2", "alice", "team-b"))
    assert err.value.status == 403
    mine = _create_as(users["bob"], "team-b", _experiment("honest", "bob", "team-b"))
    assert mine["spec"]["submittedBy"] == "bob"
    unsigned = _create_as(users["alice"], "team-a", _experiment("unsigned", None, "team-a"))
    assert "submittedBy" not in unsigned["spec"]  # absent says nobody, never somebody else


def test_the_sdk_records_the_authenticated_user(users):
    exp = kr.Experiment("sdk", namespace="team-a")
    exp.add(kr.Partial(tasks.add, a=1), name="a")
    assert exp.run(kubeconfig=str(users["alice"]))["spec"]["submittedBy"] == "alice"
    exp = kr.Experiment("sdk-spoof", namespace="team-a")
    exp.add(kr.Partial(tasks.add, a=1), name="a")
    exp.submitted_by = "bob"
    with pytest.raises(Exception, match="must be the authenticated user"):
        exp.run(kubeconfig=str(users["alice"]))


def test_the_policy_checks_creates_only_so_a_teammate_may_still_cancel(sandbox, users, admin):
    created = _create_as(users["alice"], "team-a", _experiment("shared", "alice", "team-a"))
    client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding("team-a", {
        "metadata": {"name": "bob-edit"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]})
    bob = config.new_client_from_config(config_file=str(users["bob"]))
    patched = client.CustomObjectsApi(bob).patch_namespaced_custom_object(
        GROUP, VERSION, "team-a", PLURAL, created["metadata"]["name"], {"spec": {"shutdown": "Terminate"}})
    bob.close()
    assert (patched["spec"]["shutdown"], patched["spec"]["submittedBy"]) == ("Terminate", "alice")


def test_who_cancelled_a_task_cannot_be_spoofed_and_earlier_requests_stand(sandbox, users, admin):
    from kuberun.api import JSON_PATCH, Op, connect
    from kuberun.manage import lifecycle
    from kuberun.manage.query import experiment_path

    exp = kr.Experiment("cancels", namespace="team-a")
    for name in ("a", "b", "c"):
        exp.add(kr.Partial(tasks.add, a=1), name=name)
    name = exp.run(kubeconfig=str(users["alice"]))["metadata"]["name"]
    client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding("team-a", {
        "metadata": {"name": "bob-edit-cancels"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]})
    alice, bob = connect(str(users["alice"]), namespace="team-a"), connect(str(users["bob"]), namespace="team-a")
    lifecycle.cancel_task(alice, name, "a")
    with pytest.raises(kr.KuberunError, match="cancelTasks: a new entry may name in `by` only the authenticated user"):
        lifecycle.cancel_task(bob, name, "b", by="alice")  # bob blaming alice
    after = lifecycle.cancel_task(bob, name, "c")  # bob as himself; alice's entry is not his to keep or change
    assert after["spec"]["cancelTasks"] == [{"task": "a", "by": "alice"}, {"task": "c", "by": "bob"}]
    with pytest.raises(kr.KuberunError, match="may name in `by` only the authenticated user"):  # an edited entry is a new one
        bob.request("PATCH", experiment_path("team-a", name), Op("patch", PLURAL), content_type=JSON_PATCH,
                    body=[{"op": "replace", "path": "/spec/cancelTasks/0/by", "value": "mallory"}])
    stored = client.CustomObjectsApi(admin).get_namespaced_custom_object(GROUP, VERSION, "team-a", PLURAL, name)
    assert stored["spec"]["cancelTasks"] == [{"task": "a", "by": "alice"}, {"task": "c", "by": "bob"}]
    assert lifecycle.cancel_task(bob, name, "c")["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


# --- Pod Security -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def restricted(admin: Any) -> str:
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": "locked", "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    return "locked"


def _post_pod(sandbox: Sandbox, namespace: str, pod: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    return call(sandbox, "POST", f"/api/v1/namespaces/{namespace}/pods", json.dumps(pod).encode(),
                {"Content-Type": "application/json"}, token_of(sandbox.kubeconfig))


def test_privileged_pod_in_a_restricted_namespace_is_refused_with_the_real_message_and_never_runs(sandbox, restricted, tmp_path):
    marker = tmp_path / "escaped"
    pod = marker_pod("breakout", marker, securityContext={"privileged": True})
    pod["spec"].update(hostPID=True, volumes=[{"name": "root", "hostPath": {"path": "/"}}])
    code, body, _ = _post_pod(sandbox, restricted, pod)
    assert (code, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'pods "breakout" is forbidden: violates PodSecurity "restricted:latest": host namespaces (hostPID=true), '
        'privileged (container "main" must not set securityContext.privileged=true), '
        'allowPrivilegeEscalation != false (container "main" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "main" must set securityContext.capabilities.drop=["ALL"]), '
        'restricted volume types (volume "root" uses restricted volume type "hostPath"), '
        'runAsNonRoot != true (pod or container "main" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "main" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
    node_caught_up(sandbox, token_of(sandbox.kubeconfig), "default", tmp_path)
    assert not marker.exists()
    assert call(sandbox, "GET", f"/api/v1/namespaces/{restricted}/pods/breakout", token=token_of(sandbox.kubeconfig))[0] == 404


def test_a_pod_meeting_restricted_is_admitted(sandbox, restricted, tmp_path):
    pod = marker_pod("compliant", tmp_path / "ok", securityContext={
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}})
    pod["spec"]["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
    code, body, _ = _post_pod(sandbox, restricted, pod)
    assert code == 201, body


def test_baseline_refuses_privilege_but_not_root_and_warn_mode_only_warns(sandbox, admin, tmp_path):
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": "base", "labels": {"pod-security.kubernetes.io/enforce": "baseline",
                                                                    "pod-security.kubernetes.io/enforce-version": "v1.32",
                                                                    "pod-security.kubernetes.io/warn": "restricted"}}})
    code, body, _ = _post_pod(sandbox, "base", marker_pod("caps", tmp_path / "x", securityContext={"capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}}))
    assert (code, body["message"]) == (403, 'pods "caps" is forbidden: violates PodSecurity "baseline:v1.32": non-default '
                                            'capabilities (container "main" must not include "NET_ADMIN", "SYS_ADMIN" in '
                                            'securityContext.capabilities.add)')
    code, body, headers = _post_pod(sandbox, "base", marker_pod("root-ok", tmp_path / "y"))
    assert code == 201, body
    warning = headers.get("Warning", "")
    assert "would violate PodSecurity" in warning and "restricted:latest" in warning and "runAsNonRoot != true" in warning


# --- ValidatingAdmissionPolicy machinery ------------------------------------------------------
def _policy(admin: Any, name: str, validations: list[dict[str, Any]], actions: list[str], **spec: Any) -> None:
    custom = client.CustomObjectsApi(admin)
    policy_spec = {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                                                            "resources": ["configmaps"]}],
                                        "namespaceSelector": {"matchLabels": {"policy-test": name}}},
                   "validations": validations, **spec}
    params = policy_spec.pop("paramRef", None)
    custom.create_cluster_custom_object(ADM, "v1", "validatingadmissionpolicies", {"metadata": {"name": name}, "spec": policy_spec})
    binding: dict[str, Any] = {"policyName": name, "validationActions": actions}
    if params:
        binding["paramRef"] = params
    custom.create_cluster_custom_object(ADM, "v1", "validatingadmissionpolicybindings", {"metadata": {"name": name}, "spec": binding})
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": name, "labels": {"policy-test": name}}})


def _configmap(sandbox: Sandbox, namespace: str, data: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    return call(sandbox, "POST", f"/api/v1/namespaces/{namespace}/configmaps",
                json.dumps({"metadata": {"name": "c", "labels": {"kind": "probe"}}, "data": data}).encode(),
                {"Content-Type": "application/json"}, token_of(sandbox.kubeconfig))


def test_failure_policy_fail_refuses_on_an_expression_error_and_ignore_lets_it_pass(sandbox, admin):
    _policy(admin, "broken-fail", [{"expression": "object.data.missing == 'x'"}], ["Deny"], failurePolicy="Fail")
    code, body, _ = _configmap(sandbox, "broken-fail", {"a": "1"})
    assert code == 422 and "ValidatingAdmissionPolicy 'broken-fail' with binding 'broken-fail' denied request: expression evaluation failed" in body["message"]
    _policy(admin, "broken-ignore", [{"expression": "object.data.missing == 'x'"}], ["Deny"], failurePolicy="Ignore")
    assert _configmap(sandbox, "broken-ignore", {"a": "1"})[0] == 201


def test_warn_action_admits_with_a_warning_and_deny_uses_the_static_message(sandbox, admin):
    _policy(admin, "warn-only", [{"expression": "size(object.data) < 2", "message": "too much data"}], ["Warn"])
    code, _, headers = _configmap(sandbox, "warn-only", {"a": "1", "b": "2"})
    assert code == 201 and "too much data" in headers.get("Warning", "")
    _policy(admin, "deny-static", [{"expression": "size(object.data) < 2", "message": "too much data"}], ["Deny"])
    code, body, _ = _configmap(sandbox, "deny-static", {"a": "1", "b": "2"})
    assert (code, body["reason"]) == (422, "Invalid") and body["message"].endswith("denied request: too much data")
    assert _configmap(sandbox, "deny-static", {"a": "1"})[0] == 201  # the namespace selector matched, the rule held


def test_params_variables_and_match_conditions(sandbox, admin):
    core = client.CoreV1Api(admin)
    core.create_namespaced_config_map("default", {"metadata": {"name": "limits"}, "data": {"max": "2"}})
    _policy(admin, "with-params", [{"expression": "variables.n <= int(params.data.max)",
                                    "messageExpression": "'at most ' + params.data.max + ' keys'"}], ["Deny"],
            paramKind={"apiVersion": "v1", "kind": "ConfigMap"}, paramRef={"name": "limits", "namespace": "default"},
            variables=[{"name": "n", "expression": "size(object.data)"}],
            matchConditions=[{"name": "probes-only", "expression": "object.metadata.labels.kind == 'probe'"}])
    code, body, _ = _configmap(sandbox, "with-params", {"a": "1", "b": "2", "c": "3"})
    assert code == 422 and body["message"].endswith("denied request: at most 2 keys")
    assert _configmap(sandbox, "with-params", {"a": "1"})[0] == 201
