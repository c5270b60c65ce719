"""The CLI's lean transport against a real kube-apiserver: each auth mode, and urllib3's results and errors.

The same parity as ``tests/integration/test_lean_transport.py`` (the sandbox and an echo server),
here with the API server's own TLS, client-certificate authentication (files and inline data),
ServiceAccount bearer tokens (inline, from a file, from an exec plugin), ``insecure-skip-tls-verify``
and real RBAC, 404 and 409 answers.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberun.api import Op
from kuberun.api.kubeconfig import load_credentials
from kuberun.apipath import api_path
from tests.helpers.lean import outcomes

NS = api_path("", "v1", "namespaces", None)


@pytest.fixture(scope="module")
def service_account_token(real_control_plane: Any) -> str:
    """A token of ``default/default`` (which no RBAC binds): the API server names it in a 403."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(real_control_plane.admin_kubeconfig))
    try:
        answer = client.CoreV1Api(api).create_namespaced_service_account_token(
            "default", "default", {"spec": {"expirationSeconds": 3600}})
    finally:
        api.close()
    return str(answer.status.token)


def _rewrite(source: Path, target: Path, cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None) -> str:
    doc = yaml.safe_load(source.read_text())
    if cluster is not None:
        doc["clusters"][0]["cluster"] = {"server": doc["clusters"][0]["cluster"]["server"], **cluster}
    if user is not None:
        doc["users"][0]["user"] = user
    target.write_text(yaml.safe_dump(doc))
    return str(target)


def _get(kubeconfig: str, path: str = f"{NS}/default", op: Op = Op("get", "namespaces", None, "default")) -> Any:
    return outcomes(lambda: load_credentials(kubeconfig), "GET", path, op)


def test_client_certificates_as_data_and_as_files(real_control_plane, tmp_path):
    admin = Path(real_control_plane.admin_kubeconfig)
    pooled, lean = _get(str(admin))  # as the control plane writes it: CA and client certificate inline
    assert pooled == lean and lean[0] == "ok" and lean[1]["metadata"]["name"] == "default"
    user = yaml.safe_load(admin.read_text())["users"][0]["user"]
    cert, key = tmp_path / "admin.crt", tmp_path / "admin.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    files = _rewrite(admin, tmp_path / "files", cluster={"certificate-authority": str(real_control_plane.ca_path)},
                     user={"client-certificate": str(cert), "client-key": str(key)})
    pooled, lean = _get(files)
    assert pooled == lean and lean[0] == "ok"
    insecure = _rewrite(admin, tmp_path / "insecure", cluster={"insecure-skip-tls-verify": True})
    pooled, lean = _get(insecure)
    assert pooled == lean and lean[0] == "ok"


def test_rbac_not_found_and_conflict_answers_read_the_same(real_control_plane, tmp_path):
    admin = str(real_control_plane.admin_kubeconfig)
    pooled, lean = _get(admin, f"{NS}/no-such-ns", Op("get", "namespaces", None, "no-such-ns"))
    assert pooled == lean and lean[0] == "ObjectNotFoundError"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    pooled, lean = outcomes(lambda: load_credentials(admin), "POST", NS, Op("create", "namespaces"), body)
    assert pooled == lean and lean[0] == "AlreadyExistsError"
    nobody = str(real_control_plane.user_kubeconfig("lean-nobody"))
    pooled, lean = _get(nobody, NS, Op("list", "namespaces"))
    assert pooled == lean and lean[0] == "ForbiddenError" and 'user "lean-nobody" may not list namespaces' in lean[1]


@pytest.mark.parametrize("mode", ["token", "token file", "exec plugin", "wrong token"])
def test_bearer_tokens_inline_from_a_file_and_from_an_exec_plugin(mode, real_control_plane, service_account_token, tmp_path):
    token = "not-a-token" if mode == "wrong token" else service_account_token
    (tmp_path / "token").write_text(token + "\n")
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
                      f"'kind': 'ExecCredential', 'status': {{'token': {token!r}}}}}))\n")
    user = {"token": {"token": token}, "wrong token": {"token": token}, "token file": {"tokenFile": str(tmp_path / "token")},
            "exec plugin": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                                     "args": [str(plugin)], "interactiveMode": "Never"}}}[mode]
    kubeconfig = _rewrite(Path(real_control_plane.admin_kubeconfig), tmp_path / "config", user=user)
    pooled, lean = _get(kubeconfig, NS, Op("list", "namespaces"))
    assert pooled == lean
    if mode == "wrong token":
        assert lean[0] == "UnauthorizedError"
    else:  # authenticated as the ServiceAccount, which may not list namespaces
        assert lean[0] == "ForbiddenError" and "system:serviceaccount:default:default" in lean[1], lean


def test_the_cli_describes_through_the_lean_transport(real_control_plane):
    import subprocess

    from kubernetes import config

    from tests.helpers.operator import ensure_crd

    ensure_crd(config.new_client_from_config(config_file=str(real_control_plane.admin_kubeconfig)))
    done = subprocess.run([sys.executable, "-m", "kuberun.cli", "describe", "nope", "-o", "json", "--kubeconfig",
                           str(real_control_plane.admin_kubeconfig), "-n", "default"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (1, 'error: experiment "nope" not found in namespace "default"')
