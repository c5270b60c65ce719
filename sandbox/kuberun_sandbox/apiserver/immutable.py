"""Update rules of built-in kinds: which fields may not change once an object exists.

Why here and not in the schema: immutability is hand-written ``Validate*Update`` code on a real
server (``pkg/apis/core/validation``, ``pkg/apis/batch/validation``), with these messages. A Job
whose template is edited in the sandbox but refused by a cluster is exactly the drift this stops.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import Cause
from .resources import ResourceType

_POD_MUTABLE = ("`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
                "`spec.tolerations` (only additions to existing tolerations)",
                "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")


def _immutable(path: str, value: Any) -> Cause:
    return Cause(path, f"Invalid value: {json.dumps(value)}: field is immutable")


def _forbidden(path: str, detail: str) -> Cause:
    return Cause(path, f"Forbidden: {detail}", "FieldValueForbidden")


def causes(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    kind = (rt.group, rt.kind)
    if kind == ("batch", "Job"):
        return _job(new.get("spec") or {}, old.get("spec") or {})
    if kind == ("", "Pod"):
        return _pod(new.get("spec") or {}, old.get("spec") or {})
    if kind in (("", "ConfigMap"), ("", "Secret")):
        return _data(rt.kind, new, old)
    if kind == ("", "Service"):
        return _service(new.get("spec") or {}, old.get("spec") or {})
    return []


def _job(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    found = [_immutable(f"spec.{f}", new.get(f)) for f in ("selector", "completionMode", "podFailurePolicy",
                                                          "backoffLimitPerIndex", "managedBy", "successPolicy")
             if new.get(f) != old.get(f)]
    if new.get("template") != old.get("template"):
        found.append(_immutable("spec.template", new.get("template")))
    return found


def _pod(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidatePodUpdate``: only images, activeDeadlineSeconds and added tolerations may change."""
    munged = json.loads(json.dumps(new))
    for group in ("containers", "initContainers"):
        for i, c in enumerate(munged.get(group) or []):
            olds = old.get(group) or []
            if i < len(olds) and isinstance(c, dict):
                c["image"] = olds[i].get("image")
    for field in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
        if field in old:
            munged[field] = old[field]
        else:
            munged.pop(field, None)
    old_tolerations = old.get("tolerations") or []
    if all(t in (munged.get("tolerations") or []) for t in old_tolerations):
        munged["tolerations"] = old.get("tolerations")
        if munged["tolerations"] is None:
            munged.pop("tolerations")
    if not old.get("nodeName") and munged.get("nodeName"):
        munged.pop("nodeName")  # binding: a scheduler (here the sandbox node) assigns the node once
    if munged != old:
        detail = "pod updates may not change fields other than " + ",".join(_POD_MUTABLE)
        return [_forbidden("spec", detail)]
    return []


def _data(kind: str, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    found: list[Cause] = []
    if kind == "Secret" and new.get("type") != old.get("type"):
        found.append(_immutable("type", new.get("type")))
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            found.append(_forbidden("immutable", "field is immutable when `immutable` is set"))
        for field in ("data", "binaryData"):
            if (new.get(field) or {}) != (old.get(field) or {}):
                found.append(_forbidden(field, "field is immutable when `immutable` is set"))
    return found


def _service(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    old_ips = old.get("clusterIPs") or ([old["clusterIP"]] if old.get("clusterIP") else [])
    changed = new.get("clusterIP") not in (None, "", old_ips[0] if old_ips else None) or (
        new.get("clusterIPs") not in (None, [], old_ips))
    if old_ips and new.get("type") != "ExternalName" and changed:
        return [Cause("spec.clusterIPs[0]", f"Invalid value: {json.dumps(new.get('clusterIPs') or [new.get('clusterIP')])}: "
                                                "may not change once set")]
    return []
