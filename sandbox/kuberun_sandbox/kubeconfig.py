"""Write a kubeconfig that points kubectl and the kubernetes client at the sandbox API server."""

from __future__ import annotations

import base64
import os
import pathlib
import secrets

import yaml

CLUSTER = "kuberun-sandbox"


def write_kubeconfig(path: pathlib.Path | str, server_url: str, namespace: str = "default", user: str = CLUSTER,
                     token: str | None = None, ca_pem: str | None = None) -> pathlib.Path:
    """Write a one-context kubeconfig (mode 0600) for ``user`` (the submitter kuberun records) on the sandbox cluster.

    The default user shares the cluster's name (``kuberun-sandbox``); another ``user`` gives a
    separate client identity for the same cluster, as a teammate's kubeconfig would. ``token`` is
    the user's bearer token (``Sandbox.mint_user`` and ``ApiServer.auth.mint`` make them); without
    one, an in-process server at ``server_url`` mints one for ``user`` as an administrator (what
    fixtures that know only a URL need), and with no such server the token is random (refused).
    ``ca_pem`` is the CA that signed an ``https`` server's certificate (by default, the in-process
    server's own), written as ``certificate-authority-data`` so clients verify the server.
    """
    from .apiserver.auth import local_ca, local_token

    if token is None:
        token = local_token(server_url, user) or secrets.token_urlsafe(32)
    if ca_pem is None and server_url.startswith("https://"):
        ca_pem = local_ca(server_url)
    path = pathlib.Path(path)
    cluster: dict[str, str] = {"server": server_url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    context = CLUSTER if user == CLUSTER else f"{user}@{CLUSTER}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER, "user": user, "namespace": namespace}}],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: tighten it
    with os.fdopen(fd, "w") as f:
        f.write(yaml.safe_dump(config, sort_keys=False))
    return path
