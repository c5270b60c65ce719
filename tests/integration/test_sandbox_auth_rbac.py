"""Two tenants on one sandbox: alice (edit in team-a) and bob (edit in team-b), each with a kubeconfig of
their own. Alice attacks bob's namespace through the kubernetes client, kubectl and raw HTTP; every
attempt is refused with the real Forbidden message and bob's experiment and pod are untouched.
``kubectl auth can-i``/``whoami`` answer from the same RBAC; TokenReview and SubjectAccessReview give a
log endpoint what it needs to authenticate and authorize its callers.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kuberun.resource.constants import GROUP, PLURAL, VERSION
from kuberun_sandbox import Sandbox
from tests.helpers.manage import submit
from tests.helpers.operator import wait_for
from tests.integration.sandbox_auth import call, marker_pod, token_of

KUBECTL = pathlib.Path(__file__).resolve().parents[2] / ".tools" / "bin" / "kubectl"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), operator=False) as sb:
        yield sb


@pytest.fixture(scope="module")
def tenants(sandbox: Sandbox) -> dict[str, pathlib.Path]:
    return {"alice": sandbox.mint_user("alice", namespace="team-a"), "bob": sandbox.mint_user("bob", namespace="team-b")}


def _api(kubeconfig: pathlib.Path) -> Any:
    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture(scope="module")
def alice(tenants: dict[str, pathlib.Path]) -> Iterator[Any]:
    api = _api(tenants["alice"])
    yield api
    api.close()


@pytest.fixture(scope="module")
def bobs_work(sandbox: Sandbox, tenants: dict[str, pathlib.Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An experiment and a finished pod (with a log) that bob owns in team-b."""
    name = submit(tenants["bob"], "team-b", "secret-plan")
    api = _api(tenants["bob"])
    marker = tmp_path_factory.mktemp("bob") / "ran"
    pod = marker_pod("bobs-pod", marker)
    pod["spec"]["containers"][0]["command"] = ["sh", "-c", f"echo bob-private-output; touch {marker}"]
    client.CoreV1Api(api).create_namespaced_pod("team-b", pod)
    wait_for(marker.exists, what="bob's pod to run")
    exp = client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL, name)
    api.close()
    return {"name": name, "rv": exp["metadata"]["resourceVersion"], "pod": "bobs-pod"}


def _forbidden(call_: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as err:
        call_()
    assert err.value.status == 403, err.value.body
    body: dict[str, Any] = json.loads(err.value.body)
    assert body["reason"] == "Forbidden"
    return body


def test_alice_cannot_list_bobs_experiments_and_is_told_exactly_why(alice, bobs_work):
    body = _forbidden(lambda: client.CustomObjectsApi(alice).list_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL))
    assert body["message"] == ('experiments.kuberun.dev is forbidden: User "alice" cannot list resource "experiments" '
                               'in API group "kuberun.dev" in the namespace "team-b"')


def test_alice_cannot_get_patch_or_delete_bobs_experiment_and_it_is_unchanged(alice, tenants, bobs_work):
    custom, name = client.CustomObjectsApi(alice), bobs_work["name"]
    got = _forbidden(lambda: custom.get_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL, name))
    assert got["message"].startswith(f'experiments.kuberun.dev "{name}" is forbidden: User "alice" cannot get resource')
    assert got["details"] == {"name": name, "group": GROUP, "kind": PLURAL}
    _forbidden(lambda: custom.patch_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL, name, {"spec": {"shutdown": "Terminate"}}))
    status = _forbidden(lambda: custom.patch_namespaced_custom_object_status(GROUP, VERSION, "team-b", PLURAL, name,
                                                                              {"status": {"phase": "Failed"}}))
    assert 'cannot patch resource "experiments/status"' in status["message"]
    _forbidden(lambda: custom.delete_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL, name))
    _forbidden(lambda: custom.delete_collection_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL))
    bob = _api(tenants["bob"])
    after = client.CustomObjectsApi(bob).get_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL, name)
    bob.close()
    assert after["metadata"]["resourceVersion"] == bobs_work["rv"] and "shutdown" not in after["spec"]


def test_alice_cannot_watch_bobs_experiments(sandbox, tenants, bobs_work):
    code, body, _ = call(sandbox, "GET", f"/apis/{GROUP}/{VERSION}/namespaces/team-b/{PLURAL}?watch=true",
                         token=token_of(tenants["alice"]))
    assert code == 403 and 'cannot watch resource "experiments"' in body["message"]


def test_alice_cannot_read_bobs_pod_log_but_bob_can(tenants, alice, bobs_work):
    body = _forbidden(lambda: client.CoreV1Api(alice).read_namespaced_pod_log(bobs_work["pod"], "team-b"))
    assert body["message"] == ('pods "bobs-pod" is forbidden: User "alice" cannot get resource "pods/log" '
                               'in API group "" in the namespace "team-b"')
    bob = _api(tenants["bob"])
    assert "bob-private-output" in client.CoreV1Api(bob).read_namespaced_pod_log(bobs_work["pod"], "team-b")
    bob.close()


def test_alice_works_in_her_own_namespace_through_aggregated_edit(tenants, alice):
    name = submit(tenants["alice"], "team-a", "mine")
    custom = client.CustomObjectsApi(alice)
    assert [e["metadata"]["name"] for e in custom.list_namespaced_custom_object(GROUP, VERSION, "team-a", PLURAL)["items"]] == [name]
    custom.patch_namespaced_custom_object(GROUP, VERSION, "team-a", PLURAL, name, {"spec": {"suspend": True}})
    custom.delete_namespaced_custom_object(GROUP, VERSION, "team-a", PLURAL, name)


def test_cluster_scoped_reads_need_a_cluster_binding(alice):
    body = _forbidden(lambda: client.CoreV1Api(alice).list_namespace())
    assert body["message"].endswith('cannot list resource "namespaces" in API group "" at the cluster scope')
    assert client.CoreV1Api(alice).read_namespace("team-a").metadata.name == "team-a"  # a namespace is within itself


def test_a_view_binding_granted_later_lets_alice_read_but_not_change_team_b(sandbox, alice, bobs_work):
    admin = _api(sandbox.kubeconfig)
    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role_binding("team-b", {
        "metadata": {"name": "alice-view"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]})
    try:
        custom = client.CustomObjectsApi(alice)
        names = [e["metadata"]["name"] for e in custom.list_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL)["items"]]
        assert bobs_work["name"] in names
        _forbidden(lambda: custom.delete_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL, bobs_work["name"]))
        _forbidden(lambda: client.CoreV1Api(alice).list_namespaced_secret("team-b"))  # view does not read Secrets
    finally:
        rbac.delete_namespaced_role_binding("alice-view", "team-b")
    _forbidden(lambda: client.CustomObjectsApi(alice).list_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL))


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl is installed by .ci/install-helm.sh into .tools/bin")
@pytest.mark.parametrize(("args", "answer"), [
    (["list", "experiments.kuberun.dev", "-n", "team-a"], "yes"),
    (["list", "experiments.kuberun.dev", "-n", "team-b"], "no"),
    (["delete", "experiments", "-n", "team-b"], "no"),
    (["create", "pods", "-n", "team-a"], "yes"),
    (["get", "pods", "--subresource=log", "-n", "team-b"], "no"),
    (["get", "pods", "--subresource=log", "-n", "team-a"], "yes"),
    (["list", "namespaces", "--all-namespaces"], "no"),  # without -A: asked in team-a, where view grants it (as on a cluster)
    (["get", "/version"], "yes"),
])
def test_kubectl_auth_can_i_answers_from_rbac(tenants, args, answer, tmp_path):
    proc = subprocess.run([str(KUBECTL), "--kubeconfig", str(tenants["alice"]), "--cache-dir", str(tmp_path), "auth", "can-i", *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (proc.stdout.strip(), proc.returncode) == (answer, 0 if answer == "yes" else 1), proc.stderr


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl is installed by .ci/install-helm.sh into .tools/bin")
def test_kubectl_auth_can_i_list_and_whoami(tenants, tmp_path):
    def kubectl(*args: str) -> str:
        proc = subprocess.run([str(KUBECTL), "--kubeconfig", str(tenants["alice"]), "--cache-dir", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=60, check=True)
        return proc.stdout

    listing = kubectl("auth", "can-i", "--list", "-n", "team-a")
    assert any(line.startswith("experiments.kuberun.dev ") and "create" in line for line in listing.splitlines()), listing
    assert "experiments.kuberun.dev" not in kubectl("auth", "can-i", "--list", "-n", "team-b")
    assert json.loads(kubectl("auth", "whoami", "-o", "json"))["status"]["userInfo"]["username"] == "alice"


def test_token_and_subject_access_reviews_serve_a_log_endpoint(sandbox, tenants, bobs_work):
    """What the operator's log endpoint does per request: who is this token, may they get this experiment?"""
    admin = _api(sandbox.kubeconfig)
    client.RbacAuthorizationV1Api(admin).create_cluster_role_binding({
        "metadata": {"name": "logs-delegator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
        "subjects": [{"kind": "ServiceAccount", "name": "logs", "namespace": "kuberun-system"}]})
    admin.close()
    endpoint = sandbox.server.auth.mint("system:serviceaccount:kuberun-system:logs", ("system:serviceaccounts",))

    def review(path: str, spec: dict[str, Any], token: str = endpoint) -> tuple[int, Any]:
        code, body, _ = call(sandbox, "POST", path, json.dumps({"spec": spec}).encode(), {"Content-Type": "application/json"}, token)
        return code, body

    code, body = review("/apis/authentication.k8s.io/v1/tokenreviews", {"token": token_of(tenants["alice"])})
    assert code == 201 and body["status"]["authenticated"] is True
    user = body["status"]["user"]
    assert user["username"] == "alice" and "system:authenticated" in user["groups"]
    assert review("/apis/authentication.k8s.io/v1/tokenreviews", {"token": "forged"})[1]["status"]["authenticated"] is False

    def may_get(namespace: str) -> bool:
        spec = {"user": user["username"], "groups": user["groups"],
                "resourceAttributes": {"verb": "get", "group": GROUP, "resource": PLURAL, "namespace": namespace, "name": bobs_work["name"]}}
        code, body = review("/apis/authorization.k8s.io/v1/subjectaccessreviews", spec)
        assert code == 201, body
        return bool(body["status"]["allowed"])

    assert (may_get("team-a"), may_get("team-b")) == (True, False)
    # A tenant may not use the reviews to probe others: that needs system:auth-delegator.
    code, body = review("/apis/authentication.k8s.io/v1/tokenreviews", {"token": token_of(tenants["bob"])}, token_of(tenants["alice"]))
    assert code == 403 and 'cannot create resource "tokenreviews"' in body["message"]


def test_minted_users_are_checked(sandbox):
    from kuberun_sandbox.users import UserError

    for name, kwargs in [("system:admin", {}), ("a b", {}), ("ok", {"namespace": "Bad_NS"}), ("ok", {"groups": ["system:unauthenticated"]})]:
        with pytest.raises(UserError):
            sandbox.mint_user(name, **kwargs)
