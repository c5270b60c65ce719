"""``kuberun sandbox --control-plane real``: the sandbox node and operator on a real control plane.

``Sandbox`` keeps one shape for both control planes; this module holds what differs for the real
one: choosing it (``auto`` takes the real binaries when ``.ci/install-kube.sh`` built them), starting
``realcp.ControlPlane`` in the sandbox's data directory, the admin kubeconfig, and the node in
kubelet-only mode with a serving certificate from the control plane's CA.

The node authenticates as its own user in ``system:masters``: it plays scheduler (pods/binding) as
well as kubelet, and a real kubelet's Node authorizer rights would not allow binding.
"""

from __future__ import annotations

import asyncio
import pathlib
import socket
from typing import Any

CHOICES = ("emulator", "real", "auto")
NODE_USER = "kuberun-sandbox-node"
CRD_ESTABLISHED_TIMEOUT = 30.0


def resolve(control_plane: str) -> str:
    """``emulator`` or ``real``; ``auto`` is real when the binaries are installed."""
    if control_plane not in CHOICES:
        raise ValueError(f"control plane must be one of {', '.join(CHOICES)}, not {control_plane!r}")
    if control_plane != "auto":
        return control_plane
    from .realcp import BinariesMissing, find_binaries

    try:
        find_binaries()
    except BinariesMissing:
        return "emulator"
    return "real"


def start_control_plane(data_dir: pathlib.Path, host: str, port: int, durable: bool, audit: bool = False) -> Any:
    """Start etcd, kube-apiserver and kube-controller-manager under ``data_dir/realcp``."""
    from .realcp import ControlPlane, ControlPlaneError

    if port:
        with socket.socket() as s:
            # SO_REUSEADDR as the API server sets it: a previous run's TIME_WAIT socket is no obstacle,
            # a listening one still is.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                raise ControlPlaneError(f"port {port} on {host} is already in use") from None
    return ControlPlane(workdir=data_dir / "realcp", host=host, port=port, durable=durable, audit=audit).start()


def write_admin_kubeconfig(control_plane: Any, path: pathlib.Path) -> pathlib.Path:
    from .realcp.controlplane import ADMIN

    result: pathlib.Path = control_plane.user_kubeconfig(ADMIN, ("system:masters",), path=path)
    return result


def node_for(control_plane: Any, data_dir: pathlib.Path) -> Any:
    from .kubelet_server import KubeletTLS
    from .node import NODE_NAME, SandboxNode

    control_plane.user_kubeconfig(NODE_USER, ("system:masters",))  # issues the node's client certificate
    serving = control_plane.issue_serving_cert(f"kubelet-{NODE_NAME}", (control_plane.host, NODE_NAME))
    return SandboxNode(control_plane.url, data_dir, kubelet_only=True, token=None,
                       ssl_context=control_plane.ssl_context(NODE_USER),
                       kubelet_tls=KubeletTLS(serving.cert, serving.key, control_plane.ca_path))


async def wait_established(rest: Any, crd_path: str) -> None:
    """A real API server serves a new CRD's resources only once it is Established."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CRD_ESTABLISHED_TIMEOUT
    while True:
        crd = await rest.get(crd_path)
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"CRD {crd_path} not Established after {CRD_ESTABLISHED_TIMEOUT:.0f}s")
        await asyncio.sleep(0.05)


def mint_user(control_plane: Any, data_dir: pathlib.Path, name: str, groups: tuple[str, ...],
              namespace: str | None) -> pathlib.Path:
    """``Sandbox.mint_user`` on the real control plane: a client certificate instead of a token, the same grant."""
    from . import users
    from .realcp.controlplane import ADMIN

    users.check_names(name, groups, namespace)
    if namespace is not None:
        asyncio.run(users.grant_edit(control_plane.url, None, name, namespace,
                                     ssl_context=control_plane.ssl_context(ADMIN)))
    result: pathlib.Path = control_plane.user_kubeconfig(name, groups, path=pathlib.Path(data_dir) / "users" /
                                                         f"{name}.kubeconfig", namespace=namespace or "default")
    return result
