"""Shared pieces of the sandbox-auth attack tests: a sandbox whose node runs pods, raw HTTPS calls, marker pods.

Not a test module: ``test_sandbox_auth_*.py`` import it. Raw calls go through ``urllib`` with the
sandbox's CA trusted (the strongest attacker position short of holding a token), so a refusal
seen here is the server's, not a TLS failure.
"""

from __future__ import annotations

import json
import pathlib
import ssl
import urllib.error
import urllib.request
from typing import Any

import yaml

from tests.helpers.operator import wait_for


def token_of(kubeconfig: pathlib.Path) -> str:
    return str(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"])


def call(sandbox: Any, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         token: str | None = None) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON-or-text body, headers) of one HTTPS request to the sandbox API server."""
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(sandbox.url + path, data=body, method=method, headers=headers)
    context = ssl.create_default_context(cadata=sandbox.server.auth.ca_pem)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as resp:
            status, raw, got = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        status, raw, got = e.code, e.read(), dict(e.headers)
    try:
        return status, json.loads(raw), got
    except ValueError:
        return status, raw.decode(errors="replace"), got


def marker_pod(name: str, marker: pathlib.Path, **container: Any) -> dict[str, Any]:
    """A pod whose only effect, when the node runs it, is to create ``marker``."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": "python:3.11", "command": ["touch", str(marker)], **container}]}}


def node_caught_up(sandbox: Any, admin_token: str, namespace: str, tmp: pathlib.Path) -> None:
    """Run a pod as the administrator and wait for its marker: the node has handled every earlier pod."""
    marker = tmp / "caught-up"
    code, body, _ = call(sandbox, "POST", f"/api/v1/namespaces/{namespace}/pods",
                         json.dumps(marker_pod("caught-up", marker)).encode(), {"Content-Type": "application/json"},
                         admin_token)
    assert code == 201, body
    wait_for(marker.exists, what="the node to run the administrator's pod")
