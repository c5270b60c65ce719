"""Uniqueness of ``x-kubernetes-list-type: set | map`` lists, as a real API server checks it.

JSON Schema's ``uniqueItems`` is not the same thing (Kubernetes forbids it in CRDs); the list
types are how a CRD says "names are unique" at no CEL cost, which matters when a list may hold
a thousand items: a CEL ``all(... exists_one(...))`` over it is quadratic and its estimated cost
gets the whole CRD refused. Messages follow the apiserver's ``Duplicate value: ...`` causes.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import Cause
from .schema import field_path


def _go_map(key: dict[str, Any]) -> str:
    inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in key.items())
    return f"map[string]interface {{}}{{{inner}}}"


def duplicates(obj: Any, schema: dict[str, Any], path: tuple[str | int, ...] = ()) -> list[Cause]:
    """Every repeated item of a set list and every repeated key of a map list under ``obj``."""
    causes: list[Cause] = []
    if isinstance(obj, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
        for name, value in obj.items():
            sub = props.get(name) or extra
            if sub is not None:
                causes += duplicates(value, sub, (*path, name))
    elif isinstance(obj, list):
        items = schema.get("items") or {}
        kind = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen: set[str] = set()
        for i, item in enumerate(obj):
            if kind == "set" or (kind == "map" and isinstance(item, dict)):
                ident = {k: item.get(k) for k in keys} if kind == "map" else item
                token = json.dumps(ident, sort_keys=True)
                if token in seen:
                    shown = _go_map(ident) if kind == "map" else json.dumps(item)
                    causes.append(Cause(field_path((*path, i)), f"Duplicate value: {shown}", "FieldValueDuplicate"))
                seen.add(token)
            causes += duplicates(item, items, (*path, i))
    return causes
