"""HTTPS (issue 12 item 3, on by default since issue 13 item 5): the server's own CA, verified by the kubernetes
client and kubectl, kept in ``tls_dir`` across restarts."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBECTL = next((str(p) for p in (ROOT / ".tools" / "bin" / "kubectl",) if p.exists()), None) or shutil.which("kubectl")


def test_https_server_is_verified_with_the_ca_in_the_kubeconfig(tmp_path: pathlib.Path) -> None:
    from kubernetes import client, config

    from kuberun_sandbox.apiserver import run_in_thread
    from kuberun_sandbox.kubeconfig import write_kubeconfig

    with run_in_thread(tls_dir=tmp_path / "tls") as server:
        assert server.url.startswith("https://127.0.0.1:")
        kubeconfig = write_kubeconfig(tmp_path / "config", server.url, ca_pem=server.auth.ca_pem)
        api = config.new_client_from_config(config_file=str(kubeconfig))
        try:
            names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
        finally:
            api.close()
        assert "default" in names
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"{server.url}/version", timeout=10)  # the system CAs do not know this one
        if KUBECTL is None:
            pytest.skip("kubectl is not installed: the kubernetes client part passed")
        out = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "get", "ns", "default", "-o", "name"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.strip() == "namespace/default", out.stderr


def test_the_ca_is_kept_across_restarts(tmp_path: pathlib.Path) -> None:
    from kuberun_sandbox.apiserver import run_in_thread

    with run_in_thread(tls_dir=tmp_path / "tls") as server:
        first = server.auth.ca_pem
    assert first and "BEGIN CERTIFICATE" in first
    with run_in_thread(tls_dir=tmp_path / "tls") as server:
        assert server.auth.ca_pem == first
