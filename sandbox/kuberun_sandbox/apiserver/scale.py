"""The ``/scale`` subresource of custom resources: an ``autoscaling/v1 Scale`` view of the object.

Why: ``kubectl scale`` and autoscalers read and write a Scale, never the object itself; the CRD's
``subresources.scale`` names where its replicas and selector live (``specReplicasPath``,
``statusReplicasPath``, ``labelSelectorPath``).
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError
from .resources import ResourceType


def _paths(rt: ResourceType) -> dict[str, str]:
    paths: dict[str, str] = (rt.crd_version.get("subresources") or {}).get("scale") or {}
    return paths


def _get(obj: Any, path: str) -> Any:
    for part in path.strip(".").split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def to_scale(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    paths, meta = _paths(rt), obj["metadata"]
    status: dict[str, Any] = {"replicas": _get(obj, paths.get("statusReplicasPath", "")) or 0}
    if paths.get("labelSelectorPath") and (selector := _get(obj, paths["labelSelectorPath"])) is not None:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": _get(obj, paths.get("specReplicasPath", "")) or 0}, "status": status}


def with_replicas(rt: ResourceType, obj: dict[str, Any], scale: Any) -> dict[str, Any]:
    """``obj`` with the replicas the Scale asks for written at ``specReplicasPath``."""
    replicas = ((scale or {}).get("spec") or {}).get("replicas") if isinstance(scale, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ApiError(422, "Invalid", f'Scale.autoscaling "{obj["metadata"]["name"]}" is invalid: spec.replicas: '
                                       f"Invalid value: {replicas!r}: must be greater than or equal to 0")
    new = copy.deepcopy(obj)
    parts = _paths(rt).get("specReplicasPath", ".spec.replicas").strip(".").split(".")
    node = new
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = replicas
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        new["metadata"]["resourceVersion"] = rv  # a stale Scale is a conflict, as on a real server
    return new
