"""CustomResourceDefinitions: accepting a CRD, and admitting custom resources against its schema."""

from __future__ import annotations

import copy
from typing import Any

from . import cel, codec, listtypes, schema
from .errors import Cause, bad_request, invalid
from .resources import ResourceType
from .versioning import now


def check_crd(crd: dict[str, Any]) -> None:
    """The few structural checks that make a CRD unusable if missed (422 like the real server)."""
    name = crd.get("metadata", {}).get("name", "")
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    causes: list[Cause] = []
    for field in ("group", "names", "versions"):
        if not spec.get(field):
            causes.append(Cause(f"spec.{field}", "Required value", "FieldValueRequired"))
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append(Cause(f"spec.names.{field}", "Required value", "FieldValueRequired"))
    if names.get("plural") and spec.get("group") and name != f"{names['plural']}.{spec['group']}":
        causes.append(Cause("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
    versions = spec.get("versions") or []
    if versions and sum(bool(v.get("storage")) for v in versions) != 1:
        causes.append(Cause("spec.versions", "Invalid value: \"array\": must have exactly one version marked as storage version"))
    if causes:
        raise invalid("apiextensions.k8s.io", "CustomResourceDefinition", name, causes)


def crd_status(crd: dict[str, Any]) -> dict[str, Any]:
    """The status the apiextensions controllers would write: names accepted, established."""
    ts = now()
    names = copy.deepcopy(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    stored = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]
    return {
        "acceptedNames": names,
        "storedVersions": sorted(set(crd.get("status", {}).get("storedVersions", [])) | set(stored)),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": ts},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": ts},
        ],
    }


def _unknown_fields(before: Any, after: Any, path: str = "") -> list[str]:
    """Paths that pruning removed (for fieldValidation=Strict|Warn)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key, value in before.items():
            sub = f"{path}.{key}" if path else key
            found += [sub] if key not in after else _unknown_fields(value, after[key], sub)
        return found
    if isinstance(before, list) and isinstance(after, list):
        return [p for i, (b, a) in enumerate(zip(before, after, strict=False)) for p in _unknown_fields(b, a, f"{path}[{i}]")]
    return []


def admit_custom(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None,
                 field_validation: str) -> tuple[dict[str, Any], list[str]]:
    """Prune, default and validate a custom resource; returns the object and warnings."""
    version = rt.crd_version
    root = (version.get("schema") or {}).get("openAPIV3Schema")
    if root is None:
        return obj, []
    before = codec.clone(obj)
    obj = schema.prune(obj, root, root=True)
    unknown = _unknown_fields(before, obj)
    warnings: list[str] = []
    if unknown and field_validation == "Strict":
        raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown))
    if unknown and field_validation == "Warn":
        warnings = [f'unknown field "{p}"' for p in unknown]
    obj = schema.apply_defaults(obj, root)
    causes = schema.validate(obj, root) + listtypes.duplicates(obj, root)
    if not causes:  # the server runs CEL only on schema-valid objects
        causes = cel.root_rules(root, obj, old)
    if causes:
        raise invalid(rt.group, rt.kind, obj["metadata"].get("name", ""), causes)
    return obj, warnings


