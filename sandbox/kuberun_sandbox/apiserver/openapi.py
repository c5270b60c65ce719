"""OpenAPI v3 documents, enough for kubectl's field validation and ``kubectl explain`` of CRDs.

kubectl 1.32 asks ``/openapi/v3`` for the group-version document and checks whether the PATCH
operation of the kind accepts the ``fieldValidation`` query parameter; if it does, kubectl leaves
validation to the server (``fieldValidation=Strict``), which this emulator implements for custom
resources. Schemas are published for CRDs (from their openAPIV3Schema); built-in kinds get paths
but no schemas, so kubectl falls back to its compiled-in types for strategic merge. ``/openapi/v2``
answers 404, which kubectl tolerates.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import not_found
from .resources import Registry, ResourceType

_PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
_OBJECT_META = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rt: ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _path_item(rt: ResourceType) -> dict[str, Any]:
    params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for n in ("dryRun", "fieldManager", "fieldValidation")]
    content = {t: {"schema": {"type": "object"}} for t in _PATCH_TYPES}
    operation = {"operationId": f"patch{rt.kind}", "x-kubernetes-action": "patch",
                 "x-kubernetes-group-version-kind": _gvk(rt), "parameters": params,
                 "requestBody": {"content": content, "required": True},
                 "responses": {"200": {"description": "OK"}}}
    return {"patch": operation}


def _crd_schema(rt: ResourceType) -> dict[str, Any] | None:
    root = (rt.crd_version.get("schema") or {}).get("openAPIV3Schema")
    if root is None:
        return None
    schema = json.loads(json.dumps(root))
    props = schema.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props["metadata"] = _OBJECT_META
    schema["x-kubernetes-group-version-kind"] = [_gvk(rt)]
    return schema


def group_version_doc(registry: Registry, group: str, version: str) -> dict[str, Any]:
    types = registry.in_group_version(group, version)
    if not types:
        raise not_found("", "", None)
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in types:
        prefix = f"/{_gv_path(group, version)}" + ("/namespaces/{namespace}" if rt.namespaced else "")
        paths[f"{prefix}/{rt.plural}/{{name}}"] = _path_item(rt)
        if rt.crd is not None and (schema := _crd_schema(rt)) is not None:
            schemas[_schema_name(rt)] = schema
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": schemas}}


def root_doc(registry: Registry) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            doc = json.dumps(group_version_doc(registry, group, version), sort_keys=True).encode()
            digest = hashlib.sha512(doc).hexdigest()[:64].upper()
            url = f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"
            paths[_gv_path(group, version)] = {"serverRelativeURL": url}
    return {"paths": paths}
