"""The in-sandbox operator is the chart's ServiceAccount with the chart's rules, and nothing more.

A tenant's experiment runs to Succeeded with every operator request authorized; the operator's
token reviews as ``system:serviceaccount:kuberun-system:kuberun`` (not an administrator); and
when a rule is taken away from its ClusterRole, the operator's next request of that kind is a 403.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

import kuberun as kr
from kuberun_sandbox import Sandbox
from kuberun_sandbox.apiserver.auth import bootstrap
from tests.helpers.operator import wait_for
from tests.integration.sandbox_auth import call, token_of

OPERATOR_AGENTS = ("kopf/", "kuberun-operator/")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), operator=True) as sb:
        if not sb.operator_running:
            pytest.skip(f"the operator did not start: {sb.operator_error}")
        yield sb


def _refused(sandbox: Sandbox) -> list[Any]:
    return [r for r in sandbox.server.request_log if r.code == 403 and r.user_agent.startswith(OPERATOR_AGENTS)]


def test_a_tenants_experiment_succeeds_with_every_operator_request_authorized(sandbox):
    alice = sandbox.mint_user("alice", namespace="team-a")
    exp = kr.Experiment("rbac-run", namespace="team-a")
    exp.add(kr.Script(command=["true"]), name="first")
    exp.add(kr.Script(command=["true"]), name="second", dependencies=["first"])
    done = exp.run(kubeconfig=str(alice), wait=True, timeout=120, live=False)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert done["spec"]["submittedBy"] == "alice"
    assert _refused(sandbox) == []


def test_the_operator_authenticates_as_its_service_account_not_an_administrator(sandbox):
    spec = {"token": token_of(sandbox.operator_kubeconfig)}
    code, body, _ = call(sandbox, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", json.dumps({"spec": spec}).encode(),
                         {"Content-Type": "application/json"}, token_of(sandbox.kubeconfig))
    assert code == 201
    user = body["status"]["user"]
    assert user["username"] == "system:serviceaccount:kuberun-system:kuberun"
    assert "system:masters" not in user["groups"]
    code, _, _ = call(sandbox, "GET", "/api/v1/namespaces/default/secrets", token=spec["token"])
    assert code == 403  # the chart grants the operator no Secrets


def test_a_rule_taken_from_the_operators_role_fails_its_request(sandbox):
    admin = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    rbac = client.RbacAuthorizationV1Api(admin)
    role = rbac.read_cluster_role(bootstrap.OPERATOR_ROLE)
    kept = [r for r in role.rules if r.resources != ["experiments/status"]]
    assert len(kept) == len(role.rules) - 1
    rbac.patch_cluster_role(bootstrap.OPERATOR_ROLE, {"rules": [admin.sanitize_for_serialization(r) for r in kept]})
    try:
        alice = sandbox.mint_user("alice2", namespace="team-a")
        exp = kr.Experiment("no-status", namespace="team-a")
        exp.add(kr.Script(command=["true"]), name="s")
        exp.run(kubeconfig=str(alice))
        refused = wait_for(lambda: [r for r in _refused(sandbox) if (r.resource, r.subresource) == ("experiments", "status")],
                           timeout=60, what="the operator's status patch to be refused")
        assert refused[0].verb == "patch"
    finally:
        rbac.patch_cluster_role(bootstrap.OPERATOR_ROLE, {"rules": [admin.sanitize_for_serialization(r) for r in role.rules]})
        admin.close()
