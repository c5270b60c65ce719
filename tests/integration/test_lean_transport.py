"""The CLI's lean transport (``kuberun.api.lean``) against the sandbox API server and a loopback TLS
echo server: every kubeconfig auth mode it serves, and the same results and errors as urllib3's pool.

The sandbox serves HTTPS with its own CA and bearer tokens; the echo server (``tests/helpers/lean.py``)
is what shows the client certificate and token a request carried, answers 5xx, and sits behind a
CONNECT proxy. ``tests/realcluster/test_lean_real.py`` holds the same against a real kube-apiserver.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kuberun.api import Kube, Op
from kuberun.api.kubeconfig import Credentials, load_credentials
from kuberun.api.lean import LeanTransport
from kuberun.apipath import api_path
from kuberun.manage.query import RESOURCE, experiment_path
from tests.helpers.lean import connect_proxy, echo_server, outcomes

pytest.importorskip("cryptography", reason="the echo server's certificates are made with cryptography")


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from kuberun_sandbox.apiserver import run_in_thread

    with run_in_thread(tls_dir=tmp_path_factory.mktemp("tls")) as server:
        yield server


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kuberun_sandbox.realcp.pki import CertificateAuthority

    return CertificateAuthority(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def echo(pki: Any) -> Iterator[str]:
    pair = pki.issue("echo", "kube.internal", server=True, hosts=("kube.internal",))
    with echo_server(pair.cert, pair.key, pki.pair.cert) as url:
        yield url


def _kubeconfig(path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> str:
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                                "clusters": [{"name": "k", "cluster": cluster}], "users": [{"name": "u", "user": user}],
                                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    return str(path)


def _sandbox_kubeconfig(server: Any, path: Path, token: str) -> str:
    ca = base64.b64encode(server.auth.ca_pem.encode()).decode()
    return _kubeconfig(path, {"server": server.url, "certificate-authority-data": ca}, {"token": token})


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


# --- the sandbox API server: TLS with its CA, bearer tokens ----------------------------------------

def test_a_read_and_each_api_error_are_the_same_on_both_transports(tls_sandbox, tmp_path):
    admin = _sandbox_kubeconfig(tls_sandbox, tmp_path / "admin", tls_sandbox.auth.mint("admin", ("system:masters",)))
    creds = lambda: load_credentials(admin)  # noqa: E731
    pooled, lean = outcomes(creds, "GET", api_path("", "v1", "namespaces", None, "default"), Op("get", "namespaces", None, "default"))
    assert pooled == lean and lean[0] == "ok" and lean[1]["metadata"]["name"] == "default"
    missing = Op("get", RESOURCE, "default", "nope")
    pooled, lean = outcomes(creds, "GET", experiment_path("default", "nope"), missing)
    assert pooled == lean and lean[0] == "ObjectNotFoundError"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    pooled, lean = outcomes(creds, "POST", api_path("", "v1", "namespaces", None), Op("create", "namespaces"), body)
    assert pooled == lean and lean[0] == "AlreadyExistsError"

    wrong = _sandbox_kubeconfig(tls_sandbox, tmp_path / "wrong", "not-a-token")
    pooled, lean = outcomes(lambda: load_credentials(wrong), "GET", "/api/v1/namespaces", Op("list", "namespaces"))
    assert pooled == lean and lean[0] == "UnauthorizedError"

    nobody = _sandbox_kubeconfig(tls_sandbox, tmp_path / "nobody", tls_sandbox.auth.mint("nobody"))
    pooled, lean = outcomes(lambda: load_credentials(nobody), "GET", "/api/v1/namespaces", Op("list", "namespaces"))
    assert pooled == lean and lean[0] == "ForbiddenError" and "nobody" in lean[1]


def test_an_unknown_ca_and_a_refused_connection_read_the_same(tls_sandbox, tmp_path):
    untrusted = _kubeconfig(tmp_path / "untrusted", {"server": tls_sandbox.url}, {"token": "t"})
    pooled, lean = outcomes(lambda: load_credentials(untrusted), "GET", "/api", Op("get", "api"))
    assert pooled == lean and lean[0] == "UnreachableError" and "CERTIFICATE_VERIFY_FAILED" in lean[1]
    refused = _kubeconfig(tmp_path / "refused", {"server": "https://127.0.0.1:9"}, {"token": "t"})
    pooled, lean = outcomes(lambda: load_credentials(refused), "GET", "/api", Op("get", "api"))
    assert pooled == lean == ("UnreachableError", "cannot reach the Kubernetes API at https://127.0.0.1:9: connection refused")


def test_the_cli_reads_through_the_lean_transport(tls_sandbox, tmp_path):
    """``kuberun describe`` of a missing Experiment, in a fresh process: the sandbox's 404, worded as ever."""
    import subprocess

    from kubernetes import config

    from tests.helpers.operator import ensure_crd

    admin = _sandbox_kubeconfig(tls_sandbox, tmp_path / "admin", tls_sandbox.auth.mint("admin", ("system:masters",)))
    ensure_crd(config.new_client_from_config(config_file=admin))
    done = subprocess.run([sys.executable, "-m", "kuberun.cli", "describe", "nope", "--kubeconfig", admin, "-n", "default"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (1, 'error: experiment "nope" not found in namespace "default"')
    done = subprocess.run([sys.executable, "-m", "kuberun.cli", "list", "--kubeconfig", admin, "-n", "default"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (0, "No experiments found."), done.stderr


# --- the echo server: client certificates, tokens, 5xx, tls-server-name, proxies ---------------------

def _echo_cluster(echo: str, pki: Any, **extra: Any) -> dict[str, Any]:
    return {"server": echo, "certificate-authority-data": _b64(pki.pair.cert), "tls-server-name": "kube.internal", **extra}


@pytest.mark.parametrize("mode", ["cert files", "cert data", "token", "token file", "basic", "exec token", "exec cert"])
def test_each_auth_mode_reaches_the_server_alike(mode, echo, pki, tmp_path):
    pair = pki.issue(f"user-{mode.replace(' ', '-')}", "alice", client=True)
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    plugin = tmp_path / "plugin.py"
    status = ({"token": "from-a-plugin"} if mode == "exec token" else
              {"clientCertificateData": pair.cert_pem().decode(), "clientKeyData": pair.key_pem().decode()})
    plugin.write_text(f"import json\nprint(json.dumps({{'apiVersion': 'client.authentication.k8s.io/v1', "
                      f"'kind': 'ExecCredential', 'status': {status!r}}}))\n")
    exec_stanza = {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(plugin)],
                   "interactiveMode": "Never"}
    user = {"cert files": {"client-certificate": str(pair.cert), "client-key": str(pair.key)},
            "cert data": {"client-certificate-data": _b64(pair.cert), "client-key-data": _b64(pair.key)},
            "token": {"token": "a-token"}, "token file": {"tokenFile": str(token_file)},
            "basic": {"username": "alice", "password": "s3cret"},
            "exec token": {"exec": exec_stanza}, "exec cert": {"exec": exec_stanza}}[mode]
    kubeconfig = _kubeconfig(tmp_path / "config", _echo_cluster(echo, pki), user)
    pooled, lean = outcomes(lambda: load_credentials(kubeconfig), "GET", "/api/v1/namespaces?x=1", Op("list", "namespaces"))
    assert pooled == lean and lean[0] == "ok"
    shown = lean[1]
    assert shown["path"] == "/api/v1/namespaces?x=1"
    expected = {"cert files": (None, "alice"), "cert data": (None, "alice"), "token": ("Bearer a-token", None),
                "token file": ("Bearer from-a-file", None), "exec token": ("Bearer from-a-plugin", None),
                "basic": ("Basic " + base64.b64encode(b"alice:s3cret").decode(), None), "exec cert": (None, "alice")}[mode]
    assert (shown["authorization"], shown["cn"]) == expected


@pytest.mark.parametrize("code", [500, 502, 503])
def test_server_errors_read_the_same(code, echo, pki, tmp_path):
    creds = lambda: Credentials(server=echo, ca_file=str(pki.pair.cert), tls_server_name="kube.internal")  # noqa: E731
    pooled, lean = outcomes(creds, "GET", f"/status/{code}", Op("get", "pods", "ns", "p"))
    assert pooled == lean == ("ApiError", f"get pods: the echo server says {code}")


def test_the_server_name_is_checked_against_tls_server_name_or_the_host(echo, pki):
    no_name = lambda: Credentials(server=echo, ca_file=str(pki.pair.cert))  # noqa: E731 - 127.0.0.1 is not on the cert
    pooled, lean = outcomes(no_name, "GET", "/x", Op("get", "x"))
    assert pooled[0] == lean[0] == "UnreachableError" and "CERTIFICATE_VERIFY_FAILED" in lean[1]
    insecure = lambda: Credentials(server=echo, verify=False)  # noqa: E731
    pooled, lean = outcomes(insecure, "GET", "/x", Op("get", "x"))
    assert pooled == lean and lean[0] == "ok" and lean[1]["host"] == echo.removeprefix("https://")


def test_a_connect_proxy_carries_the_lean_transport(echo, pki):
    with connect_proxy() as (proxy, tunnels):
        creds = lambda: Credentials(server=echo, ca_file=str(pki.pair.cert), tls_server_name="kube.internal",  # noqa: E731
                                    proxy=proxy)
        pooled, lean = outcomes(creds, "GET", "/through", Op("get", "x"))
    assert pooled == lean and lean[0] == "ok"
    assert tunnels == [echo.removeprefix("https://")] * 2  # one tunnel each: urllib3's, then the lean one


def test_streams_and_keep_alive_on_the_lean_transport(echo, pki):
    kube = Kube(Credentials(server=echo, ca_file=str(pki.pair.cert), tls_server_name="kube.internal"), lean=True)
    first = kube.get("/one", Op("get", "x"))
    conn = kube._pool._conn
    assert kube.get("/two", Op("get", "x"))["path"] == "/two" and kube._pool._conn is conn  # one connection
    assert json.loads(b"".join(kube.stream("/three", Op("get", "x"))))["path"] == "/three"
    open_stream = kube.stream("/five", Op("get", "x"))
    first_chunk = next(open_stream)  # a stream still open, and a request meanwhile: on a connection of its own
    assert kube.get("/six", Op("get", "x"))["path"] == "/six"
    assert json.loads(first_chunk + b"".join(open_stream))["path"] == "/five"
    assert first["path"] == "/one" and kube.get("/four", Op("get", "x"))["path"] == "/four"  # after a stream: reconnects


@pytest.mark.parametrize("proxy", ["socks5://127.0.0.1:1080", "https://proxy:3128", "http://user:pw@proxy:3128"])
def test_what_the_lean_transport_does_not_serve_keeps_urllib3(proxy):
    from kuberun.api import lean
    from kuberun.errors import UnreachableError

    creds = Credentials(server="https://h:6443", proxy=proxy)
    assert lean.unsupported(creds) is not None
    try:
        kube = Kube(creds, lean=True)
    except UnreachableError as exc:  # urllib3's own answer when PySocks is missing: the pooled path was taken
        assert "pip install 'urllib3[socks]'" in str(exc)
        return
    assert not kube.lean and not isinstance(kube._pool, LeanTransport)


def test_no_proxy_in_the_environment_is_honoured_on_the_lean_path(monkeypatch, tmp_path):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "kube.example")
    exempt = load_credentials(_kubeconfig(tmp_path / "a", {"server": "https://kube.example:6443"}, {"token": "t"}))
    proxied = load_credentials(_kubeconfig(tmp_path / "b", {"server": "https://other.example:6443"}, {"token": "t"}))
    assert exempt.proxy is None and proxied.proxy == "http://proxy.invalid:3128"
    assert isinstance(Kube(proxied, lean=True)._pool, LeanTransport)
