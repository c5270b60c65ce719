"""The real control plane's pieces that need no binaries: where binaries are looked for, the PKI,
the kubeconfigs, and the choice of control plane."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from kuberun_sandbox import realmode
from kuberun_sandbox.realcp import KUBE_VERSION, BinariesMissing, find_binaries, kube_bin_dir
from kuberun_sandbox.realcp.kubeconfigs import write_kubeconfig
from kuberun_sandbox.realcp.pki import CertificateAuthority, service_account_key

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / ".ci" / "install-kube.sh"


@pytest.mark.parametrize("env", [{}, {"XDG_CACHE_HOME": "/tmp/xdg-elsewhere"}, {"KUBERUN_KUBE_BIN": "/opt/kube/bin"}])
def test_install_script_and_fixture_agree_on_the_bin_dir(env, monkeypatch):
    for key in ("XDG_CACHE_HOME", "KUBERUN_KUBE_BIN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    printed = subprocess.run(["sh", str(SCRIPT), "--print-bin-dir"], capture_output=True, text=True, timeout=10,
                             env={**os.environ}, check=True).stdout.strip()
    assert printed == str(kube_bin_dir())
    assert f"kube-{KUBE_VERSION}" in printed or "KUBERUN_KUBE_BIN" in env


def test_missing_binaries_say_which_and_how_to_build_them(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBERUN_KUBE_BIN", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "etcd").write_text("#!/bin/sh\n")
    (tmp_path / "etcd").chmod(0o755)
    with pytest.raises(BinariesMissing) as err:
        find_binaries()
    assert "kube-apiserver, kube-controller-manager not found" in str(err.value) and "make kube-tools" in str(err.value)
    assert realmode.resolve("auto") == "emulator" and realmode.resolve("real") == "real"
    with pytest.raises(ValueError, match="one of emulator, real, auto"):
        realmode.resolve("kind")


def test_ca_signs_user_certificates_with_name_and_groups_and_keys_are_private(tmp_path):
    ca = CertificateAuthority(tmp_path)
    pair = ca.issue("user-alice", "alice", groups=("team-a", "system:authenticated"), client=True)
    cert = x509.load_pem_x509_certificate(pair.cert_pem())
    ca_cert = x509.load_pem_x509_certificate(ca.pair.cert_pem())
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["team-a", "system:authenticated"]
    serving = x509.load_pem_x509_certificate(ca.issue("srv", "srv", server=True, hosts=("127.0.0.1", "node")).cert_pem())
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["node"]
    sa = service_account_key(tmp_path)
    for key in (ca.pair.key, pair.key, sa.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # A data directory that outlives one run keeps its CA and service-account key.
    assert CertificateAuthority(tmp_path).pair.cert_pem() == ca.pair.cert_pem()
    assert service_account_key(tmp_path).key_pem() == sa.key_pem()


def test_kubeconfig_is_0600_and_carries_the_ca_and_the_client_certificate(tmp_path):
    ca = CertificateAuthority(tmp_path / "pki")
    pair = ca.issue("user-bob", "bob", client=True)
    path = tmp_path / "bob.kubeconfig"
    path.write_text("old")
    path.chmod(0o644)
    write_kubeconfig(path, "https://127.0.0.1:1", ca.pair.cert, pair, user="bob", namespace="team")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"
    assert config["users"][0]["user"]["client-certificate-data"] and config["contexts"][0]["context"]["namespace"] == "team"
