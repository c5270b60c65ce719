"""Kubeconfigs for the real control plane's users: CA and client certificate inline, mode 0600.

Inline data (not file paths) so a kubeconfig can be copied or mounted alone; 0600 because it holds
a private key.
"""

from __future__ import annotations

import base64
import os
import pathlib

import yaml

from .pki import KeyPair

CLUSTER = "kuberun-real"


def write_kubeconfig(path: pathlib.Path, server: str, ca_path: pathlib.Path, pair: KeyPair, *, user: str,
                     namespace: str = "default") -> pathlib.Path:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    context = f"{user}@{CLUSTER}"
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": CLUSTER, "cluster": {"server": server,
                                                   "certificate-authority-data": b64(ca_path.read_bytes())}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(pair.cert_pem()),
                                          "client-key-data": b64(pair.key_pem())}}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER, "user": user, "namespace": namespace}}],
        "current-context": context, "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    return path
