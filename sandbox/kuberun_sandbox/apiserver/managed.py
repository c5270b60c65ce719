"""``metadata.managedFields`` and server-side apply: field ownership, conflicts, pruning.

Why: ``kubectl apply --server-side`` and controllers that apply (kopf can; Helm 4 does) rely on the
server to (1) refuse, with 409, an apply that would change a field another manager set, unless
``force=true``, which takes the field over; (2) remove fields that a manager applied before and
has now dropped, when nobody else owns them; (3) record who owns what, so the next apply can do
(1) and (2). Every write records ownership: creates and updates as ``operation: Update`` of the
request's ``fieldManager`` (or the User-Agent's product name, as the real server derives it),
applies as ``operation: Apply``. Status writes are owned apart (``subresource: status``).

Simplification (documented in docs/sandbox.md): a null in an applied configuration is a plain value,
and ownership of an associative list item is by its keys only, as structured-merge-diff does, but
without its per-version conversion of field sets (the sandbox stores one version per resource).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from . import fieldsets
from .errors import ApiError, Cause, invalid
from .fieldsets import Path, Schema
from .resources import ResourceType
from .versioning import now


@dataclass
class Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    fields: set[Path]
    time: str

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
                               "time": self.time, "fieldsType": "FieldsV1",
                               "fieldsV1": fieldsets.to_fields_v1(self.fields)}
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def manager_name(query: dict[str, str] | Any, user_agent: str, apply: bool) -> str:
    """The request's field manager: ``fieldManager``, required for apply; else the User-Agent's product."""
    name = query.get("fieldManager")
    if apply and not name:
        # As kube-apiserver 1.35 answers (seen against the real control plane): 422 on PatchOptions.
        raise invalid("meta.k8s.io", "PatchOptions", "", [Cause("fieldManager", "Required value: is required for apply patch",
                                                               "FieldValueRequired")])
    if name is not None and (len(name) > 128 or not name.isprintable()):
        raise ApiError(422, "Invalid", "fieldManager: Invalid value: must be a printable string of at most 128 characters")
    if name:
        return str(name)
    return (user_agent.split("/", 1)[0] or "unknown").strip() or "unknown"


def read(obj: dict[str, Any]) -> list[Entry]:
    entries = []
    for raw in (obj.get("metadata") or {}).get("managedFields") or []:
        entries.append(Entry(raw.get("manager", ""), raw.get("operation", "Update"), raw.get("apiVersion", ""),
                             raw.get("subresource", ""), fieldsets.from_fields_v1(raw.get("fieldsV1") or {}),
                             raw.get("time", "")))
    return entries


def write(obj: dict[str, Any], entries: list[Entry]) -> None:
    kept = [e.render() for e in entries if e.fields]
    if kept:
        obj["metadata"]["managedFields"] = kept
    else:
        obj["metadata"].pop("managedFields", None)


def _entry(entries: list[Entry], manager: str, operation: str, subresource: str, api_version: str) -> Entry:
    for e in entries:
        if (e.manager, e.operation, e.subresource) == (manager, operation, subresource):
            e.api_version, e.time = api_version, now()
            return e
    entry = Entry(manager, operation, api_version, subresource, set(), now())
    entries.append(entry)
    return entry


def record(rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any], manager: str,
           subresource: str | None) -> None:
    """An ordinary write: ``manager`` now owns every field it changed; removed fields are nobody's."""
    status = subresource == "status"
    schema = fieldsets.root_schema(rt)
    entries = read(old) if old is not None else []
    after = fieldsets.paths(new, schema, status)
    before = fieldsets.paths(old, schema, status) if old is not None else set()
    changed = {p for p in after if p not in before or fieldsets.lookup(old, p) != fieldsets.lookup(new, p)}
    gone = before - after
    for e in entries:
        if (e.subresource == "status") == status:
            e.fields -= changed | gone
    if changed:
        mine = _entry(entries, manager, "Update", subresource or "", rt.api_version)
        mine.fields |= changed
    write(new, entries)


def apply(rt: ResourceType, live: dict[str, Any], applied: dict[str, Any], manager: str, force: bool,
          subresource: str | None) -> dict[str, Any]:
    """The live object with ``applied`` merged in, ownership updated, dropped fields pruned; 409 on conflicts."""
    status = subresource == "status"
    schema = fieldsets.root_schema(rt)
    entries = [e for e in read(live) if (e.subresource == "status") == status]
    others = [e for e in entries if e.manager != manager]
    previous = next((e.fields for e in entries if e.manager == manager and e.operation == "Apply"), set())
    wanted = fieldsets.paths(applied, schema, status)
    conflicts: dict[str, list[Path]] = {}
    for path in sorted(wanted):
        if path[-1][0] == "k":
            continue  # an item is identified by its keys; its fields are compared one by one
        present, value = fieldsets.lookup(live, path)
        if not present or fieldsets.lookup(applied, path)[1] == value:
            continue
        for e in others:
            if path in e.fields:
                conflicts.setdefault(f'"{e.manager}" using {e.api_version}', []).append(path)
    if conflicts and not force:
        raise _conflict(conflicts)
    taken = {p for paths in conflicts.values() for p in paths}
    for e in others:
        e.fields -= taken
    merged = _merge(copy.deepcopy(live), applied, schema)
    owned_by_others = set().union(*(e.fields for e in others)) if others else set()
    for path in sorted(previous - wanted, key=len, reverse=True):
        if path in owned_by_others or any(p[: len(path)] == path for p in owned_by_others):
            continue
        fieldsets.remove(merged, path)
    own_updates = [e for e in entries if e.manager == manager and e.operation != "Apply"]
    for e in own_updates:
        e.fields -= wanted
    other_side = [e for e in read(live) if (e.subresource == "status") != status]
    mine = Entry(manager, "Apply", rt.api_version, subresource or "", wanted, now())
    write(merged, [*other_side, *others, *own_updates, mine])
    return merged


def _merge(live: Any, applied: Any, schema: Schema) -> Any:
    if isinstance(live, dict) and isinstance(applied, dict):
        for key, value in applied.items():
            live[key] = _merge(live.get(key), value, fieldsets.child(schema, key))
        return live
    if isinstance(live, list) and isinstance(applied, list):
        keys = fieldsets.list_keys(schema)
        if keys:
            result = list(live)
            for item in applied:
                if not isinstance(item, dict):
                    continue
                ident = fieldsets.item_key(item, keys)
                index = next((i for i, x in enumerate(result)
                              if isinstance(x, dict) and fieldsets.item_key(x, keys) == ident), None)
                if index is None:
                    result.append(copy.deepcopy(item))
                else:
                    result[index] = _merge(result[index], item, fieldsets.items(schema))
            return result
        if keys == []:
            return live + [v for v in applied if v not in live]
    return copy.deepcopy(applied)


def _conflict(conflicts: dict[str, list[Path]]) -> ApiError:
    count = sum(len(p) for p in conflicts.values())
    plural = "conflict" if count == 1 else "conflicts"
    if count == 1:
        (who, paths), = conflicts.items()
        message = f"Apply failed with 1 conflict: conflict with {who}: {fieldsets.render(paths[0])}"
    else:
        lines = [f"conflicts with {who}:\n" + "\n".join(f"- {fieldsets.render(p)}" for p in paths)
                 for who, paths in conflicts.items()]
        message = f"Apply failed with {count} {plural}: " + "\n".join(lines)
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {who}", "field": fieldsets.render(p)}
              for who, paths in conflicts.items() for p in paths]
    return ApiError(409, "Conflict", message, {"causes": causes})


def record_applied_create(rt: ResourceType, obj: dict[str, Any], applied: dict[str, Any], manager: str) -> None:
    """A create through apply: the manager owns what it applied (not what the server defaulted)."""
    wanted = fieldsets.paths(applied, fieldsets.root_schema(rt))
    write(obj, [Entry(manager, "Apply", rt.api_version, "", wanted, now())])


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """A shallow view of ``obj`` for no-op detection (ownership bookkeeping alone is no change)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}
