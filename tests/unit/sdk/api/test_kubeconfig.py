"""Kubeconfig reading: tokens, inline certificates, contexts."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from kuberun.api import load_credentials
from kuberun.errors import UnreachableError


def test_kubeconfig_with_token_and_client_certificate_data(tmp_path: Path):
    cert = base64.b64encode(b"CERT").decode()
    config = {
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://k:6443/", "certificate-authority-data": cert}}],
        "users": [{"name": "u", "user": {"client-certificate-data": cert, "client-key-data": cert, "token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team"}}],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    creds = load_credentials(str(path))
    assert (creds.server, creds.namespace, creds.user, creds.headers) == ("https://k:6443", "team", "u", {"Authorization": "Bearer t"})
    assert Path(creds.cert_file or "").read_bytes() == b"CERT" and creds.ca_file and creds.verify
    with pytest.raises(UnreachableError, match="context 'other' not found"):
        load_credentials(str(path), "other")
