"""Strategic merge patch, driven by the merge keys and strategies the official schemas declare.

Why the schema: which lists merge and by what key is per field, not per name — a Service's
``ports`` merge by ``port``, a container's by ``containerPort``; ``args`` are replaced whole; a
pod's ``finalizers`` merge as a set. The OpenAPI extensions ``x-kubernetes-patch-strategy`` and
``x-kubernetes-patch-merge-key`` carry exactly the Go struct tags the real server reads, so this
module walks the object's schema (``builtin_schema``) beside the patch. Directives honoured:
``$patch: replace|delete|merge`` on maps and list items, ``$deleteFromPrimitiveList/<f>``,
``$retainKeys``, and ``$setElementOrder/<f>`` (the order kubectl wants a merged list in).
Custom resources have no patch metadata, so a real server answers 415; see ``handlers``.
"""

from __future__ import annotations

import copy
from typing import Any

from . import fieldsets
from .errors import ApiError

Schema = dict[str, Any] | None


def merge(original: Any, patch: Any, schema: Schema) -> Any:
    """``patch`` applied to ``original`` (neither is modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [x for x in result.get(name) or [] if x not in (value or [])]
        elif key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value or []
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        else:
            sub = fieldsets.child(schema, key)
            if isinstance(value, list):
                result[key] = _merge_list(result.get(key), value, sub)
            else:
                merged = merge(result.get(key), value, sub)
                if merged is None:
                    result.pop(key, None)
                else:
                    result[key] = merged
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for name, order in orders.items():
        result[name] = _ordered(result.get(name), order, fieldsets.child(schema, name))
    return result


def _merge_list(original: Any, patch: list[Any], schema: Schema) -> list[Any]:
    strategy = str((schema or {}).get("x-kubernetes-patch-strategy") or "")
    if "merge" not in strategy.split(",") or not isinstance(original, list):
        return [_strip(x) for x in patch if not (isinstance(x, dict) and x.get("$patch") == "delete")]
    key = (schema or {}).get("x-kubernetes-patch-merge-key")
    item_schema = fieldsets.items(schema)
    if not key:  # a set of primitives: union, in order
        result = copy.deepcopy(original)
        result += [x for x in patch if x not in result]
        return result
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [_strip(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise ApiError(422, "Invalid", f"map: {item!r} does not contain declared merge key: {key}")
        index = next((i for i, x in enumerate(result) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_strip(merge({}, item, item_schema)))
        else:
            result[index] = merge(result[index], item, item_schema)
    return result


def _ordered(items: Any, order: list[Any], schema: Schema) -> Any:
    """Sort a merged list as ``$setElementOrder`` asks; items it does not name keep their place at the end."""
    if not isinstance(items, list):
        return items
    key = (schema or {}).get("x-kubernetes-patch-merge-key")

    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    rank = {repr(w): i for i, w in enumerate(wanted)}
    return sorted(items, key=lambda x: rank.get(repr(ident(x)), len(rank)))


def _strip(value: Any) -> Any:
    """A new list item or value without patch directives."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
