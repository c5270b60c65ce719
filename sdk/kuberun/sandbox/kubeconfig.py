"""Write a kubeconfig that points kubectl and the kubernetes client at the sandbox API server."""

from __future__ import annotations

import pathlib

import yaml


def write_kubeconfig(path: pathlib.Path | str, server_url: str, namespace: str = "default") -> pathlib.Path:
    """Write a one-context kubeconfig (cluster/user/context all named ``kuberun-sandbox``)."""
    path = pathlib.Path(path)
    name = "kuberun-sandbox"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server_url}}],
        "users": [{"name": name, "user": {"token": "sandbox"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
        "current-context": name,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
