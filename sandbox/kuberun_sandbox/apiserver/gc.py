"""Deletion: finalizers, owner-reference garbage collection, namespace termination.

Background and Foreground propagation are both collected in the background (Foreground's
"owner waits for its dependents" ordering is not emulated); Orphan removes the owner reference
from dependents before the owner goes.
"""

from __future__ import annotations

import copy
from typing import Any

from .resources import Registry
from .store import Key, Store
from .versioning import now


def mark_deleting(store: Store, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
    """First DELETE of an object that has finalizers: it stays, with a deletionTimestamp."""
    meta = obj["metadata"]
    if meta.get("deletionTimestamp"):
        return obj
    obj = copy.deepcopy(obj)
    obj["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=0)
    return store.put(key, obj, "MODIFIED")


def orphan_dependents(store: Store, owner_uid: str) -> None:
    for key, obj in store.items():
        refs = obj["metadata"].get("ownerReferences") or []
        kept = [r for r in refs if r.get("uid") != owner_uid]
        if len(kept) != len(refs):
            updated = copy.deepcopy(obj)
            if kept:
                updated["metadata"]["ownerReferences"] = kept
            else:
                updated["metadata"].pop("ownerReferences", None)
            store.put(key, updated, "MODIFIED")


def delete_or_mark(store: Store, key: Key, obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Delete now, or mark for deletion if finalizers hold it. Returns (object, deleted_now)."""
    if obj["metadata"].get("finalizers"):
        return mark_deleting(store, key, obj), False
    return store.remove(key), True


def collect(store: Store, registry: Registry) -> None:
    """One GC pass, repeated until nothing changes: dependents of gone owners, terminating namespaces."""
    changed = True
    while changed:
        changed = _collect_orphans(store) or _terminate_namespaces(store)


def _collect_orphans(store: Store) -> bool:
    uids = {obj["metadata"].get("uid") for _, obj in store.items()}
    changed = False
    for key, obj in store.items():
        refs = obj["metadata"].get("ownerReferences") or []
        if refs and not any(r.get("uid") in uids for r in refs) and not obj["metadata"].get("deletionTimestamp"):
            delete_or_mark(store, key, obj)
            changed = True
    return changed


def _terminate_namespaces(store: Store) -> bool:
    changed = False
    for key, ns in store.items():
        if key[:2] != ("", "namespaces") or not ns["metadata"].get("deletionTimestamp"):
            continue
        contents = [(k, o) for k, o in store.items() if k[2] == key[3] and k[2]]
        for k, o in contents:
            if not o["metadata"].get("deletionTimestamp"):
                delete_or_mark(store, k, o)
                changed = True
        if not [k for k, _ in store.items() if k[2] == key[3]]:
            store.remove(key)
            changed = True
    return changed


def released(obj: dict[str, Any]) -> bool:
    """Marked for deletion and no finalizer left: the object must go now."""
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers")
