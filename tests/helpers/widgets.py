"""A small test CRD (widgets.test.kuberun.dev) and helpers that work on the emulator and a real cluster."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

GROUP, VERSION, PLURAL, KIND = "test.kuberun.dev", "v1", "widgets", "Widget"
NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "widget", "kind": KIND, "shortNames": ["wd"],
                  "categories": ["kuberun-test"]},
        "versions": [{
            "name": VERSION, "served": True, "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["size"],
                        "x-kubernetes-validations": [
                            {"rule": "self.size <= self.maxSize", "message": "size must not exceed maxSize"},
                            {"rule": "self.color == oldSelf.color", "message": "color is immutable",
                             "fieldPath": ".color"},
                        ],
                        "properties": {
                            "size": {"type": "integer", "minimum": 0},
                            "maxSize": {"type": "integer", "default": 10},
                            "color": {"type": "string", "default": "blue", "enum": ["blue", "red", "green"]},
                            "tasks": {"type": "array", "items": {
                                "type": "object", "required": ["name"],
                                "properties": {"name": {"type": "string", "pattern": NAME_PATTERN}}}},
                            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    },
                    "status": {"type": "object", "properties": {
                        "phase": {"type": "string"}, "count": {"type": "integer"}}},
                },
            }},
        }],
    },
}

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns a truthy value (GC and controllers are asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "condition not met in time"
            return result
        time.sleep(interval)


def install_crd(api_client: Any, crd: dict[str, Any] = WIDGET_CRD) -> None:
    """Create the CRD (idempotent) and wait until it is Established."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    ext = client.ApiextensionsV1Api(api_client)
    try:
        ext.create_custom_resource_definition(crd)
    except ApiException as e:
        if e.status != 409:
            raise

    def established() -> bool:
        got = ext.read_custom_resource_definition(crd["metadata"]["name"])
        return any(c.type == "Established" and c.status == "True" for c in (got.status.conditions or []))

    eventually(established)


def unique(prefix: str = "w") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def widget(name: str, size: int = 1, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name},
            "spec": {"size": size, **spec}}


def make_namespace(api_client: Any) -> str:
    from kubernetes import client

    name = unique("ns")
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name
