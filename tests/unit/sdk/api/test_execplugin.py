"""Kubeconfig auth and transport as real clusters use them: exec credential plugins and proxies.

The plugin is a real executable (a Python script) run by the client; the API server and the proxy
are small HTTP servers on 127.0.0.1 that record what reached them, stopped after each test.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberun.api import Op, connect, load_credentials
from kuberun.api.execplugin import parse_credential
from kuberun.api.kubeconfig import proxy_from_environment
from kuberun.errors import UnreachableError

PLUGIN = """#!{python}
import json, os, sys
from pathlib import Path
log = Path({log!r})
runs = len(log.read_text().splitlines()) if log.exists() else 0
with log.open("a") as f:
    f.write(json.dumps({{"info": json.loads(os.environ["KUBERNETES_EXEC_INFO"]), "argv": sys.argv[1:]}}) + "\\n")
status = {{"token": f"token-{{runs + 1}}"}}
expires = os.environ.get("EXPIRES")
if expires:
    status["expirationTimestamp"] = expires
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status}}))
sys.exit(int(os.environ.get("EXIT", "0")))
"""


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET with ``{}``, or 401 to tokens in ``refused``; records request lines and auth."""

    seen: list[tuple[str, str]]
    refused: set[str]

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        type(self).seen.append((self.requestline, auth))
        code = 401 if auth.removeprefix("Bearer ") in type(self).refused else 200
        body = json.dumps({} if code == 200 else {"kind": "Status", "code": 401}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[type[Recorder]]:
    handler = type("Handler", (Recorder,), {"seen": [], "refused": set()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def kubeconfig(path: Path, server: str, user: dict[str, Any], cluster_extra: dict[str, Any] | None = None) -> Path:
    path.write_text(yaml.safe_dump({
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server, **(cluster_extra or {})}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }))
    return path


def plugin(tmp_path: Path) -> tuple[Path, Path]:
    script, log = tmp_path / "bin" / "token-plugin", tmp_path / "runs.log"
    script.parent.mkdir()
    script.write_text(PLUGIN.format(python=sys.executable, log=str(log)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def runs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_exec_plugin_token_is_sent_cached_and_renewed_when_refused(tmp_path, server):
    _, log = plugin(tmp_path)
    # relative to the kubeconfig's directory, as client-go resolves it; args and env passed without a shell
    exec_ = {"apiVersion": "client.authentication.k8s.io/v1", "command": "./bin/token-plugin", "args": ["--region", "a b; rm -rf /"],
             "env": [{"name": "EXPIRES", "value": "2999-01-01T00:00:00Z"}], "provideClusterInfo": True, "interactiveMode": "Never"}
    kube = connect(str(kubeconfig(tmp_path / "config", server.url, {"exec": exec_})))
    kube.get("/api/v1/namespaces/a", Op("get", "namespaces", None, "a"))
    kube.get("/api/v1/namespaces/b", Op("get", "namespaces", None, "b"))
    assert [auth for _, auth in server.seen] == ["Bearer token-1", "Bearer token-1"]  # cached until it expires
    (run,) = runs(log)
    info = run["info"]
    assert run["argv"] == ["--region", "a b; rm -rf /"]
    assert info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == server.url
    server.refused.add("token-1")  # revoked early: the server says 401, the client asks the plugin again
    kube.get("/api/v1/namespaces/c", Op("get", "namespaces", None, "c"))
    assert [auth for _, auth in server.seen[2:]] == ["Bearer token-1", "Bearer token-2"] and len(runs(log)) == 2


def test_expired_exec_credentials_are_renewed_before_the_request(tmp_path, server, monkeypatch):
    script, log = plugin(tmp_path)
    monkeypatch.setenv("EXPIRES", "2000-01-01T00:00:00Z")  # every credential is already stale
    kube = connect(str(kubeconfig(tmp_path / "config", server.url,
                                  {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(script)}})))
    kube.get("/api/v1/namespaces/a", Op("get", "namespaces", None, "a"))
    assert len(runs(log)) == 2 and server.seen[-1][1] == "Bearer token-2"  # one at connect, one before the request


@pytest.mark.parametrize(("user", "needle"), [
    ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "kuberun-no-such-plugin",
               "installHint": "install it with: brew install kuberun-no-such-plugin"}}, "is not installed (install it with"),
    ({"exec": {"apiVersion": "client.authentication.k8s.io/v9", "command": "x"}}, "unsupported apiVersion"),
    ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": ""}}, "names no command"),
])
def test_unusable_exec_plugins_fail_with_one_clear_line(tmp_path, user, needle):
    with pytest.raises(UnreachableError, match="exec credential plugin") as info:
        connect(str(kubeconfig(tmp_path / "config", "http://127.0.0.1:9", user)))
    assert needle in str(info.value)


def test_a_failing_plugin_is_reported_with_its_exit_code(tmp_path, monkeypatch):
    script, _ = plugin(tmp_path)
    monkeypatch.setenv("EXIT", "3")
    with pytest.raises(UnreachableError, match="exited with 3"):
        connect(str(kubeconfig(tmp_path / "config", "http://127.0.0.1:9",
                               {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script)}})))


@pytest.mark.parametrize(("output", "needle"), [
    (b"not json", "printed no ExecCredential"),
    (b'{"status": {}}', "neither a token nor a client certificate"),
    (b'{"status": {"token": "t", "expirationTimestamp": "soon"}}', "bad expirationTimestamp"),
])
def test_bad_exec_credentials_are_refused(output, needle):
    with pytest.raises(UnreachableError, match=needle):
        parse_credential(output)


def test_exec_client_certificates_are_accepted():
    cred = parse_credential(b'{"status": {"clientCertificateData": "CERT", "clientKeyData": "KEY"}}')
    assert (cred.token, cred.client_certificate, cred.client_key, cred.expired()) == (None, "CERT", "KEY", False)


def test_requests_go_through_the_kubeconfigs_proxy_url(tmp_path, server):
    kc = kubeconfig(tmp_path / "config", "http://kube.invalid:6443", {"token": "t"}, {"proxy-url": server.url})
    connect(str(kc)).get("/api/v1/namespaces/x", Op("get", "namespaces", None, "x"))
    assert server.seen == [("GET http://kube.invalid:6443/api/v1/namespaces/x HTTP/1.1", "Bearer t")]


def test_environment_proxies_apply_except_to_no_proxy_and_loopback(tmp_path, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.corp")
    assert proxy_from_environment("https://k8s.example.com:6443") == "http://proxy.corp:3128"
    assert proxy_from_environment("https://api.internal.corp") is None
    assert proxy_from_environment("https://127.0.0.1:6443") is None and proxy_from_environment("http://localhost:1") is None
    assert proxy_from_environment("http://k8s.example.com") is None  # only HTTPS_PROXY set: plain http goes direct
    kc = kubeconfig(tmp_path / "config", "https://k8s.example.com:6443", {"token": "t"}, {"tls-server-name": "kubernetes"})
    creds = load_credentials(str(kc))
    assert (creds.proxy, creds.tls_server_name) == ("http://proxy.corp:3128", "kubernetes")
    assert os.environ["HTTPS_PROXY"]  # untouched by the client
