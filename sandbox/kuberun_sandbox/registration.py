"""The sandbox node's Node object, for a real API server: registered Ready, with capacity and an endpoint.

A real kubelet registers its Node and keeps it Ready; the API server finds the kubelet for ``kubectl
logs`` at ``status.addresses`` (InternalIP) and ``status.daemonEndpoints.kubeletEndpoint.Port``.
The TaintNodesByCondition admission plugin taints a new Node ``not-ready``; the node lifecycle
controller would lift it once the Node is Ready, but that controller is not run (it expects kubelet
heartbeats), so registration lifts it itself.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from .jobs import now_iso
from .rest import MERGE_PATCH, Rest, path

KUBELET_VERSION = "v1.35.4-kuberun-sandbox"
MAX_PODS = "110"


def _memory_kib() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 4 * 1024 * 1024


def node_status(node_name: str, kubelet_port: int) -> dict[str, Any]:
    at = now_iso()
    capacity = {"cpu": str(os.cpu_count() or 1), "memory": f"{_memory_kib()}Ki", "pods": MAX_PODS,
                "ephemeral-storage": "10Gi"}

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": at, "lastTransitionTime": at}

    return {
        "capacity": capacity, "allocatable": dict(capacity),
        "conditions": [condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                       condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                       condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                       condition("Ready", "True", "KubeletReady", "the kuberun sandbox node runs pods as local processes")],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node_name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": platform.release(),
                     "osImage": "kuberun sandbox (local processes)", "containerRuntimeVersion": "kuberun-sandbox://0.1",
                     "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
                     "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())},
    }


async def register(rest: Rest, node_name: str, kubelet_port: int) -> None:
    """Create (or, after a restart, refresh) the Node and mark it Ready and untainted."""
    url = path("", "v1", "nodes", "", node_name)
    status = node_status(node_name, kubelet_port)
    if await rest.get_or_none(url) is None:
        labels = {"kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": status["nodeInfo"]["architecture"], "kuberun.dev/sandbox-node": "true"}
        await rest.request("POST", path("", "v1", "nodes"), {
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name, "labels": labels}, "spec": {}})
    await rest.request("PATCH", url + "/status", {"status": status}, content_type=MERGE_PATCH)
    node = await rest.get(url)
    taints = [t for t in (node.get("spec") or {}).get("taints") or []
              if t.get("key") not in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")]
    if taints != ((node.get("spec") or {}).get("taints") or []):
        await rest.request("PATCH", url, {"spec": {"taints": taints or None}}, content_type=MERGE_PATCH)
