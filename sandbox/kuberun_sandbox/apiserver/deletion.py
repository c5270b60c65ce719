"""What DELETE does before an object is gone: graceful pods, foreground propagation, CRD cleanup.

Why: clients see these states on a real cluster and code must survive them — a Pod that is
``Terminating`` (MODIFIED with ``deletionTimestamp`` and ``deletionGracePeriodSeconds``, then
DELETED once its kubelet confirms with a grace-0 delete), an owner that stays until its blocking
dependents are gone (the ``foregroundDeletion`` finalizer), a CRD that stays while custom resources
still hold finalizers (``customresourcecleanup.apiextensions.k8s.io``). The rules follow the pod
registry's ``CheckGracefulDelete``, the garbage collector and the apiextensions finalizer
controller; the collection itself is ``gc.collect``.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from kuberun.resource.times import format_time

from .errors import ApiError, Cause, invalid
from .resources import ResourceType
from .store import Key, Store
from .versioning import now

FOREGROUND = "foregroundDeletion"
CRD_CLEANUP = "customresourcecleanup.apiextensions.k8s.io"


def grace_period(rt: ResourceType, obj: dict[str, Any], options: dict[str, Any]) -> int:
    """Seconds a Pod is given to stop (0 = delete now); 0 for every other kind."""
    if (rt.group, rt.kind) != ("", "Pod"):
        return 0
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0  # an unscheduled or finished pod has no kubelet to wait for
    requested = options.get("gracePeriodSeconds")
    grace = int(requested) if requested is not None else int(spec.get("terminationGracePeriodSeconds", 30))
    current = (obj.get("metadata") or {}).get("deletionGracePeriodSeconds")
    if current is not None:
        grace = min(grace, int(current))  # a second delete may shorten the period, never extend it
    return max(grace, 0)


def mark_graceful(store: Store, key: Key, obj: dict[str, Any], grace: int) -> dict[str, Any]:
    """The Pod stays, Terminating: ``deletionTimestamp`` is when it must be gone."""
    meta = obj["metadata"]
    if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") == grace:
        return obj
    obj = copy.deepcopy(obj)
    deadline = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=grace)
    obj["metadata"].update(deletionTimestamp=format_time(deadline), deletionGracePeriodSeconds=grace)
    return store.put(key, obj, "MODIFIED")


def dependents(store: Store, owner_uid: str) -> list[tuple[Key, dict[str, Any]]]:
    return [(k, o) for k, o in store.items()
            if any(r.get("uid") == owner_uid for r in o["metadata"].get("ownerReferences") or [])]


def mark_foreground(store: Store, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
    """Foreground propagation: the owner stays, with ``foregroundDeletion``, until GC has removed its dependents."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if FOREGROUND not in finalizers:
        finalizers.append(FOREGROUND)
    meta["finalizers"] = finalizers
    meta.setdefault("deletionTimestamp", now())
    meta.setdefault("deletionGracePeriodSeconds", 0)
    return store.put(key, obj, "MODIFIED")


def mark_crd(store: Store, key: Key, crd: dict[str, Any]) -> dict[str, Any]:
    """A CRD being deleted stays, with the cleanup finalizer and a Terminating condition, until its CRs are gone."""
    crd = copy.deepcopy(crd)
    meta = crd["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if CRD_CLEANUP not in finalizers:
        finalizers.append(CRD_CLEANUP)
    meta["finalizers"] = finalizers
    meta.setdefault("deletionTimestamp", now())
    meta.setdefault("deletionGracePeriodSeconds", 0)
    conditions = [c for c in (crd.get("status") or {}).get("conditions") or [] if c.get("type") != "Terminating"]
    conditions.append({"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress",
                       "message": "CustomResource deletion is in progress", "lastTransitionTime": now()})
    crd.setdefault("status", {})["conditions"] = conditions
    return store.put(key, crd, "MODIFIED")


def check_finalizers(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """``ValidateObjectMetaUpdate``: nothing may add a finalizer to an object that is being deleted."""
    if not old["metadata"].get("deletionTimestamp"):
        return
    before = set(old["metadata"].get("finalizers") or [])
    extra = sorted(set(new["metadata"].get("finalizers") or []) - before)
    if extra:
        shown = "[]string{" + ", ".join(f'"{f}"' for f in extra) + "}"
        cause = Cause("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is being "
                                             f"deleted, found new finalizers {shown}", "FieldValueForbidden")
        raise invalid(rt.group, rt.kind, new["metadata"].get("name", ""), [cause])


def refuse_create_while_crd_terminating(rt: ResourceType, store: Store) -> None:
    if rt.crd is None:
        return
    crd = store.get_ref(("apiextensions.k8s.io", "customresourcedefinitions", "", rt.crd["metadata"]["name"]))
    if crd is not None and crd["metadata"].get("deletionTimestamp"):
        raise ApiError(405, "MethodNotAllowed", "create not allowed while custom resource definition is terminating")
