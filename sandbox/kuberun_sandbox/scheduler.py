"""The sandbox node as scheduler, for a real API server: bind each unscheduled pod to itself.

There is one node and it runs everything, so scheduling is a binding: ``POST pods/{name}/binding``,
as kube-scheduler does (the API server then sets ``spec.nodeName`` and the PodScheduled condition).
Pods for another scheduler, with scheduling gates, or already finished or terminating are left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from .rest import KubeError, Rest, path

log = logging.getLogger("kuberun_sandbox.node")

DEFAULT_SCHEDULER = "default-scheduler"


def wants_binding(pod: dict[str, Any]) -> bool:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return (not spec.get("nodeName") and not pod["metadata"].get("deletionTimestamp")
            and spec.get("schedulerName", DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER
            and not spec.get("schedulingGates") and status.get("phase", "Pending") == "Pending")


async def bind(rest: Rest, pod: dict[str, Any], node_name: str) -> None:
    meta = pod["metadata"]
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
    try:
        await rest.request("POST", path("", "v1", "pods", meta["namespace"], meta["name"], "binding"), body)
    except KubeError as e:
        # 409: bound already (a second event for the same pod); 404: deleted meanwhile.
        if e.code not in (404, 409):
            log.warning("cannot bind pod %s/%s: %s", meta["namespace"], meta["name"], e)
