"""Write a kubeconfig that points kubectl and the kubernetes client at the sandbox API server."""

from __future__ import annotations

import base64
import pathlib

import yaml

CLUSTER = "kuberun-sandbox"


def write_kubeconfig(path: pathlib.Path | str, server_url: str, namespace: str = "default", user: str = CLUSTER,
                     certificate_authority: bytes | None = None) -> pathlib.Path:
    """Write a one-context kubeconfig for ``user`` (the submitter kuberun records) on the sandbox cluster.

    The default user shares the cluster's name (``kuberun-sandbox``); another ``user`` gives a
    separate client identity for the same cluster, as a teammate's kubeconfig would.
    ``certificate_authority`` (PEM) is the CA an HTTPS server's certificate is verified with.
    """
    path = pathlib.Path(path)
    context = CLUSTER if user == CLUSTER else f"{user}@{CLUSTER}"
    ca = {"certificate-authority-data": base64.b64encode(certificate_authority).decode()} if certificate_authority else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER, "cluster": {"server": server_url, **ca}}],
        "users": [{"name": user, "user": {"token": "sandbox" if user == CLUSTER else f"token-{user}"}}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER, "user": user, "namespace": namespace}}],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
