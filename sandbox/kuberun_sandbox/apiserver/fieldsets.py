"""Field sets of ``managedFields``: which fields of an object a manager set, in the ``FieldsV1`` format.

A path is a tuple of elements: ``("f", name)`` for a map key, ``("k", '{"name":"main"}')`` for an
item of an associative list (its keys as JSON, as ``fieldsV1`` writes them), ``("v", json)`` for a
member of a set list. Atomic lists and scalars are leaves. Which list is which comes from the
schema: ``x-kubernetes-list-type``/``-list-map-keys`` (and, for built-ins without them, the
strategic-merge key), the same metadata structured-merge-diff reads on a real server.
"""

from __future__ import annotations

import json
from typing import Any

from . import builtin_schema
from .resources import ResourceType

Path = tuple[tuple[str, str], ...]
Schema = dict[str, Any] | None

_META_FIELDS = ("labels", "annotations", "finalizers", "ownerReferences")


def root_schema(rt: ResourceType) -> Schema:
    if rt.crd is not None:
        return (rt.crd_version.get("schema") or {}).get("openAPIV3Schema")
    name = builtin_schema.definition_name(rt)
    return builtin_schema.definition(name) if name else None


def child(schema: Schema, key: str) -> Schema:
    if not isinstance(schema, dict):
        return None
    props = schema.get("properties") or {}
    if key in props:
        return builtin_schema.resolve(props[key])
    extra = schema.get("additionalProperties")
    return builtin_schema.resolve(extra) if isinstance(extra, dict) else None


def items(schema: Schema) -> Schema:
    found = (schema or {}).get("items")
    return builtin_schema.resolve(found) if isinstance(found, dict) else None


def list_keys(schema: Schema) -> list[str] | None:
    """The keys of an associative list, ``[]`` for a set, None for an atomic list."""
    schema = schema or {}
    kind = schema.get("x-kubernetes-list-type")
    if kind == "map":
        return list(schema.get("x-kubernetes-list-map-keys") or [])
    if kind == "set":
        return []
    if kind is None and "merge" in str(schema.get("x-kubernetes-patch-strategy") or "").split(","):
        key = schema.get("x-kubernetes-patch-merge-key")
        return [key] if key else []
    return None


def item_key(item: Any, keys: list[str]) -> str:
    return json.dumps({k: item.get(k) for k in keys if k in item}, separators=(",", ":"), sort_keys=True)


def paths(obj: dict[str, Any], schema: Schema, status: bool = False) -> set[Path]:
    """Every owned path of ``obj``: the spec side (or, with ``status``, the status side)."""
    found: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or (key == "status") != status:
            continue
        if key == "metadata":
            meta_schema = child(schema, "metadata")
            for mkey in _META_FIELDS:
                if mkey in (value or {}):
                    _walk(value[mkey], child(meta_schema, mkey), (("f", "metadata"), ("f", mkey)), found)
            continue
        _walk(value, child(schema, key), (("f", key),), found)
    return found


def _walk(value: Any, schema: Schema, here: Path, found: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _walk(sub, child(schema, key), (*here, ("f", key)), found)
        return
    if isinstance(value, list) and value:
        keys = list_keys(schema)
        if keys:
            for item in value:
                if isinstance(item, dict):
                    at = (*here, ("k", item_key(item, keys)))
                    found.add(at)
                    for key, sub in item.items():
                        _walk(sub, child(items(schema), key), (*at, ("f", key)), found)
            return
        if keys == []:
            found.update((*here, ("v", json.dumps(v, separators=(",", ":")))) for v in value)
            return
    found.add(here)


def lookup(obj: Any, path: Path) -> tuple[bool, Any]:
    """(present, value) at ``path``."""
    for kind, name in path:
        if kind == "f" and isinstance(obj, dict) and name in obj:
            obj = obj[name]
        elif kind == "k" and isinstance(obj, list):
            want = json.loads(name)
            obj = next((x for x in obj if isinstance(x, dict) and all(x.get(k) == v for k, v in want.items())), _MISSING)
            if obj is _MISSING:
                return False, None
        elif kind == "v" and isinstance(obj, list):
            value = json.loads(name)
            if value not in obj:
                return False, None
            obj = value
        else:
            return False, None
    return True, obj


def remove(obj: Any, path: Path) -> None:
    """Delete the field, list item or set member at ``path`` (no-op when absent)."""
    present, parent = lookup(obj, path[:-1])
    if not present:
        return
    kind, name = path[-1]
    if kind == "f" and isinstance(parent, dict):
        parent.pop(name, None)
    elif kind == "k" and isinstance(parent, list):
        want = json.loads(name)
        parent[:] = [x for x in parent if not (isinstance(x, dict) and all(x.get(k) == v for k, v in want.items()))]
    elif kind == "v" and isinstance(parent, list):
        value = json.loads(name)
        parent[:] = [x for x in parent if x != value]


_MISSING = object()


def to_fields_v1(found: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    parents = {p[:i] for p in found for i in range(1, len(p))}
    for path in sorted(found):
        node = tree
        for kind, name in path:
            node = node.setdefault(f"{kind}:{name}", {})
        if path in parents:
            node.setdefault(".", {})  # the item itself is owned, not only its fields
    return tree


def from_fields_v1(tree: dict[str, Any], here: Path = ()) -> set[Path]:
    found: set[Path] = set()
    for key, sub in tree.items():
        if key == ".":
            found.add(here)
            continue
        kind, _, name = key.partition(":")
        at = (*here, (kind, name))
        if sub:
            found |= from_fields_v1(sub, at)
        else:
            found.add(at)
    return found


def render(path: Path) -> str:
    """``.spec.containers[name="main"].image``, as apply conflicts name a field."""
    text = ""
    for kind, name in path:
        if kind == "f":
            text += f".{name}"
        elif kind == "k":
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(name).items()) + "]"
        else:
            text += f"[={name}]"
    return text
