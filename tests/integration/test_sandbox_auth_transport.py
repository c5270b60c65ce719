"""Attacks on the sandbox API server from outside any kubeconfig: no token, a wrong token, a web page
(cross-origin, ``text/plain``), a DNS-rebound name. Each is refused with a clear Status, and nothing
is created or run — checked by a marker file the pod would create, after the node has provably
handled a later, legitimate pod.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from typing import Any

import pytest

from kuberun_sandbox import Sandbox
from tests.integration.sandbox_auth import call, marker_pod, node_caught_up, token_of

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), operator=False) as sb:
        yield sb


@pytest.fixture(scope="module")
def admin(sandbox: Sandbox) -> str:
    return token_of(sandbox.kubeconfig)


def _pod_names(sandbox: Sandbox, admin: str) -> list[str]:
    code, body, _ = call(sandbox, "GET", PODS, token=admin)
    assert code == 200, body
    return [p["metadata"]["name"] for p in body["items"]]


def _attack(sandbox: Sandbox, admin: str, tmp_path: Any, name: str, headers: dict[str, str],
            token: str | None = None) -> tuple[int, Any]:
    marker = tmp_path / f"{name}.ran"
    code, body, _ = call(sandbox, "POST", PODS, json.dumps(marker_pod(name, marker)).encode(), headers, token)
    node_caught_up(sandbox, admin, "default", tmp_path)
    assert name not in _pod_names(sandbox, admin), "the refused pod was stored"
    assert not marker.exists(), "the refused pod's command ran"
    call(sandbox, "DELETE", f"{PODS}/caught-up", token=admin)
    return code, body


def test_web_page_post_text_plain_cross_origin_without_token_is_refused_and_nothing_runs(sandbox, admin, tmp_path):
    # Exactly what a page on another site can make a browser send with no CORS preflight.
    code, body = _attack(sandbox, admin, tmp_path, "csrf", {"Content-Type": "text/plain", "Origin": "https://evil.example"})
    assert code == 403 and body["reason"] == "Forbidden"
    assert body["message"] == ("cross-origin request from 'https://evil.example' refused: writes are accepted "
                               "only from the sandbox's own origin")


def test_cross_origin_write_is_refused_even_with_a_valid_token(sandbox, admin, tmp_path):
    code, body = _attack(sandbox, admin, tmp_path, "csrf-token",
                         {"Content-Type": "application/json", "Origin": "http://localhost:8000"}, admin)
    assert (code, body["reason"]) == (403, "Forbidden")


def test_text_plain_body_is_unsupported_media_type_even_for_the_administrator(sandbox, admin, tmp_path):
    code, body = _attack(sandbox, admin, tmp_path, "plain", {"Content-Type": "text/plain"}, admin)
    assert (code, body["reason"]) == (415, "UnsupportedMediaType")
    assert body["message"].startswith("the body of the request was in an unknown format")  # kube-apiserver's words


def test_token_less_write_is_unauthorized_and_nothing_runs(sandbox, admin, tmp_path):
    code, body = _attack(sandbox, admin, tmp_path, "anon", {"Content-Type": "application/json"})
    assert (code, body) == (401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": "Unauthorized", "reason": "Unauthorized", "code": 401})


def test_wrong_token_is_unauthorized_for_reads_and_writes_never_anonymous(sandbox, admin, tmp_path):
    wrong = admin[:-4] + ("aaaa" if not admin.endswith("aaaa") else "bbbb")
    assert call(sandbox, "GET", PODS, token=wrong)[0] == 401
    assert call(sandbox, "GET", "/healthz", token=wrong)[0] == 401  # a bad token is not downgraded to anonymous
    code, _ = _attack(sandbox, admin, tmp_path, "wrong", {"Content-Type": "application/json"}, wrong)
    assert code == 401


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version"])
def test_anonymous_may_read_only_public_info(sandbox, path):
    assert call(sandbox, "GET", path)[0] == 200


@pytest.mark.parametrize("path", ["/api", "/apis", "/api/v1/namespaces", "/api/v1/namespaces/default/secrets",
                                  "/openapi/v3", "/apis/kuberun.dev/v1alpha1/experiments"])
def test_anonymous_reads_of_anything_else_are_unauthorized(sandbox, path):
    code, body, _ = call(sandbox, "GET", path)
    assert (code, body["reason"]) == (401, "Unauthorized")


@pytest.mark.parametrize("host", ["evil.example", "rebind.attacker.test", "10.0.0.1", "0.0.0.0"])
def test_dns_rebinding_foreign_host_is_refused_for_reads_and_writes(sandbox, admin, tmp_path, host):
    headers = {"Host": f"{host}:{sandbox.server.port}"}
    code, body, _ = call(sandbox, "GET", PODS, headers=headers, token=admin)
    assert (code, body["reason"]) == (403, "Forbidden") and "is not allowed" in body["message"]
    code, _ = _attack(sandbox, admin, tmp_path, "rebound", {**headers, "Content-Type": "application/json"}, admin)
    assert code == 403


def test_loopback_host_on_another_port_is_refused(sandbox, admin):
    assert call(sandbox, "GET", PODS, headers={"Host": f"127.0.0.1:{sandbox.server.port + 1}"}, token=admin)[0] == 403


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_loopback_names_with_the_right_port_are_served(sandbox, admin, host):
    assert call(sandbox, "GET", PODS, headers={"Host": f"{host}:{sandbox.server.port}"}, token=admin)[0] == 200


def test_the_servers_own_origin_may_write(sandbox, admin):
    body = {"metadata": {"name": "own-origin"}, "data": {"k": "v"}}
    code, got, _ = call(sandbox, "POST", "/api/v1/namespaces/default/configmaps", json.dumps(body).encode(),
                        {"Content-Type": "application/json", "Origin": sandbox.url}, admin)
    assert code == 201, got


def test_kubeconfigs_and_token_store_are_private_and_hold_no_clear_tokens(sandbox, admin):
    tokens = sandbox.data_dir / "api" / "auth" / "tokens.json"
    for path in (sandbox.kubeconfig, sandbox.operator_kubeconfig, tokens, sandbox.data_dir / "api" / "auth" / "tls" / "apiserver.key"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert admin not in tokens.read_text()
    assert len(admin) >= 40  # token_urlsafe(32): 256 random bits


def test_the_server_speaks_tls_and_the_kubeconfig_pins_its_ca(sandbox):
    import base64

    import yaml

    assert sandbox.url.startswith("https://127.0.0.1:")
    cluster = yaml.safe_load(sandbox.kubeconfig.read_text())["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == sandbox.server.auth.ca_pem
    assert "insecure-skip-tls-verify" not in cluster
