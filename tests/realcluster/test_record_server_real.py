"""The record server against a real kube-apiserver: its TokenReview and SubjectAccessReview decide.

The same attacks as tests/integration/test_record_server.py, but the reviews are answered by the
real authenticator and RBAC authorizer. Users are ServiceAccounts with TokenRequest tokens (the
real control plane's minted users are client certificates, which a TokenReview cannot check):
alice may read experiments in team-a, bob in team-b.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from kuberun.resource import recordserver as contract
from tests.helpers import records
from tests.realcluster.plugin import binaries_missing

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")


def _tenant(api: Any, namespace: str, name: str) -> str:
    """A ServiceAccount ``name`` in ``namespace`` with ``edit`` there; returns a token for it."""
    from kubernetes import client

    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    # Only the chart aggregates experiments into `edit`: here a Role of its own says what a reader may do.
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "experiment-reader"}, "rules": [
        {"apiGroups": ["kuberun.dev"], "resources": ["experiments"], "verbs": ["get", "list", "watch"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": f"{name}-reads-experiments"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "experiment-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]})
    return core.create_namespaced_service_account_token(name, namespace, {"spec": {"expirationSeconds": 3600}}).status.token


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if (reason := binaries_missing()) is not None:
        pytest.skip(reason)
    from kubernetes import config

    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path_factory.mktemp("recserver-real"), operator=False, control_plane="real",
                 record_server=True) as sb:
        assert sb.record_server is not None, sb.record_server_error
        api = config.new_client_from_config(config_file=str(sb.kubeconfig))
        tokens = {"alice": _tenant(api, "team-a", "alice"), "bob": _tenant(api, "team-b", "bob")}
        mine, theirs = records.experiment("team-a", "alice-real"), records.experiment("team-b", "bob-real-secret")
        records.archive(sb.archive_url, sb.log_store_dir, mine, b"real alice\n")
        records.archive(sb.archive_url, sb.log_store_dir, theirs, b"real bob secret\n")
        cm = config.new_client_from_config(config_file=str(sb.kubeconfig))
        from kubernetes import client

        published = client.CoreV1Api(cm).read_namespaced_config_map(contract.ENDPOINTS_CONFIGMAP, contract.ENDPOINTS_NAMESPACE)
        yield {"sb": sb, "tokens": tokens, "mine": mine["metadata"]["name"], "theirs": theirs["metadata"]["name"],
               "url": published.data[contract.KEY_URL], "ca": published.data[contract.KEY_CA]}


def _get(world: dict[str, Any], path: str, token: str | None) -> urllib3.BaseHTTPResponse:
    from kuberun.api.kubeconfig import data_file

    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=data_file(world["ca"].encode(), ".crt"), retries=False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return pool.request("GET", world["url"] + path, headers=headers, timeout=30.0)


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["none", "bad"])
def test_without_a_valid_token_the_real_authenticator_says_401(world: dict[str, Any], token: str | None) -> None:
    resp = _get(world, contract.archived_path("team-b", world["theirs"]), token)
    assert resp.status == 401 and b"bob-real-secret" not in resp.data


def test_the_real_authorizer_keeps_tenants_apart(world: dict[str, Any]) -> None:
    alice = world["tokens"]["alice"]
    for path in (contract.archived_path("team-b", world["theirs"]), contract.logs_path("team-b", world["theirs"]),
                 contract.archived_path("team-b")):
        resp = _get(world, path, alice)
        assert resp.status == 403, (path, resp.data)
        assert b"bob-real-secret" not in resp.data and b"real bob" not in resp.data
    mine = _get(world, contract.archived_path("team-a", world["mine"]), alice)
    assert mine.status == 200 and json.loads(mine.data)["spec"]["title"] == "alice-real"
    assert _get(world, contract.logs_path("team-a", world["mine"]), alice).data == b"real alice\n"
    listed = json.loads(_get(world, contract.archived_path(), alice).data)
    assert [o["metadata"]["name"] for o in listed["items"]] == [world["mine"]]
