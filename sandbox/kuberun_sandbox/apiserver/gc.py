"""Deletion: finalizers, owner-reference garbage collection, namespace termination.

Background propagation collects dependents after the owner is gone; Foreground keeps the owner
(``foregroundDeletion`` finalizer, see ``deletion``) until its dependents with
``blockOwnerDeletion`` are gone; Orphan removes the owner reference from dependents before the
owner goes. Pods the collector deletes get their grace period, as the real collector's do.
"""

from __future__ import annotations

import copy
from typing import Any

from . import deletion
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


def delete_gracefully(store: Store, key: Key, obj: dict[str, Any]) -> None:
    """The collector's delete: a bound, running Pod gets its termination grace period."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if key[:2] == ("", "pods") and spec.get("nodeName") and status.get("phase") not in ("Succeeded", "Failed"):
        deletion.mark_graceful(store, key, obj, int(spec.get("terminationGracePeriodSeconds", 30)))
    else:
        delete_or_mark(store, key, obj)


def collect(store: Store, registry: Registry) -> None:
    """One GC pass, repeated until nothing changes: dependents of gone or foreground-deleted owners,
    custom resources of deleted CRDs, terminating namespaces."""
    changed = True
    while changed:
        changed = (_collect_orphans(store) or _foreground(store) or _crd_cleanup(store, registry)
                   or _terminate_namespaces(store))


def _collect_orphans(store: Store) -> bool:
    uids = {obj["metadata"].get("uid") for _, obj in store.items()}
    changed = False
    for key, obj in store.items():
        refs = obj["metadata"].get("ownerReferences") or []
        if refs and not any(r.get("uid") in uids for r in refs) and not obj["metadata"].get("deletionTimestamp"):
            delete_gracefully(store, key, obj)
            changed = True
    return changed


def _drop_finalizer(store: Store, key: Key, obj: dict[str, Any], finalizer: str) -> None:
    obj = copy.deepcopy(obj)
    obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
    if not obj["metadata"]["finalizers"]:
        del obj["metadata"]["finalizers"]
        store.remove(key)
    else:
        store.put(key, obj, "MODIFIED")


def _foreground(store: Store) -> bool:
    changed = False
    for key, owner in store.items():
        meta = owner["metadata"]
        if not meta.get("deletionTimestamp") or deletion.FOREGROUND not in (meta.get("finalizers") or []):
            continue
        blocking = 0
        for dep_key, dep in deletion.dependents(store, meta["uid"]):
            if not dep["metadata"].get("deletionTimestamp"):
                delete_gracefully(store, dep_key, dep)
                changed = True
            ref = next(r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") == meta["uid"])
            if ref.get("blockOwnerDeletion") and store.get_ref(dep_key) is not None:
                blocking += 1
        if not blocking:
            _drop_finalizer(store, key, owner, deletion.FOREGROUND)
            changed = True
    return changed


def _crd_cleanup(store: Store, registry: Registry) -> bool:
    changed = False
    for key, crd in store.items():
        meta = crd["metadata"]
        if key[:2] != ("apiextensions.k8s.io", "customresourcedefinitions") or not meta.get("deletionTimestamp") \
                or deletion.CRD_CLEANUP not in (meta.get("finalizers") or []):
            continue
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        instances = [(k, o) for k, o in store.items() if k[:2] == (group, plural)]
        for k, o in instances:
            if not o["metadata"].get("deletionTimestamp"):
                delete_or_mark(store, k, o)
                changed = True
        if not any(k[:2] == (group, plural) for k, _ in store.items()):
            _drop_finalizer(store, key, crd, deletion.CRD_CLEANUP)
            if store.get_ref(key) is None:
                registry.unregister_crd(crd)
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
                delete_gracefully(store, k, o)
                changed = True
        if not [k for k, _ in store.items() if k[2] == key[3]]:
            store.remove(key)
            changed = True
    return changed


def released(obj: dict[str, Any]) -> bool:
    """Marked for deletion and no finalizer left: the object must go now."""
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers")
