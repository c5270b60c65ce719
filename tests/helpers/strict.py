"""Helpers for the strictness suites: raw JSON calls through the ``kubernetes`` client, and a CRD with bounds.

Raw calls (``_preload_content=False``) because the assertions are about what the server sent —
a defaulted field, a Status's ``details.causes`` — not what the client's models make of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

GADGET_GROUP, GADGET_VERSION, GADGET_PLURAL, GADGET_KIND = "test.kuberun.dev", "v1", "gadgets", "Gadget"

GADGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{GADGET_PLURAL}.{GADGET_GROUP}"},
    "spec": {
        "group": GADGET_GROUP, "scope": "Namespaced",
        "names": {"plural": GADGET_PLURAL, "singular": "gadget", "kind": GADGET_KIND},
        "versions": [{
            "name": GADGET_VERSION, "served": True, "storage": True,
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                     "statusReplicasPath": ".status.replicas"}},
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
              "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
              "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0},
                    "title": {"type": "string", "minLength": 1, "maxLength": 10},
                    "retries": {"type": "integer", "minimum": 0, "maximum": 5},
                    "tasks": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "string"}},
                    "deadline": {"type": "string", "format": "date-time"},
                },
            }}}},
        }],
    },
}


def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The JSON body the server answered with."""
    resp = call(*args, _preload_content=False, **kwargs)
    body: dict[str, Any] = json.loads(resp.data)
    return body


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """Call, expect an error; returns (HTTP code, Status body)."""
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    return info.value.status, json.loads(info.value.body)


def causes(status: dict[str, Any]) -> dict[str, str]:
    """``details.causes`` as field -> message."""
    return {c.get("field", ""): c["message"] for c in (status.get("details") or {}).get("causes") or []}


def job(name: str, **pod_spec: Any) -> dict[str, Any]:
    spec = {"containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}], **pod_spec}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"suspend": True, "template": {"spec": spec}}}


def pod(name: str, **container: Any) -> dict[str, Any]:
    main = {"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"], **container}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [main]}}


def gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GADGET_GROUP}/{GADGET_VERSION}", "kind": GADGET_KIND, "metadata": {"name": name},
            "spec": spec}


def holder_crd(plural: str) -> dict[str, Any]:
    """A throw-away CRD (deleting it is part of a test), cluster-scoped names kept unique by ``plural``."""
    kind = plural.capitalize()
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{GADGET_GROUP}"},
            "spec": {"group": GADGET_GROUP, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": plural, "kind": kind},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
