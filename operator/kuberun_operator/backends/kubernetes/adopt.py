"""Adopting an existing child only when it is provably ours (#13.4).

Why: children have deterministic names, so a create that answers 409 AlreadyExists usually means
"an earlier, interrupted submit made it" — but it may as well be an object someone else made
under that name (a squatter who could then shape our task's pod: a ConfigMap of task documents,
a Job running their image) or a leftover of an earlier Experiment of the same name. The only
proof of ownership Kubernetes gives is a controller ownerReference naming the owner's UID; an
object without one naming this Experiment is refused with ``NameConflict``, the attempt fails
and nothing is adopted.

No memo of "already proven": a 409 says nothing about *which* object holds the name now (ours
may have been deleted and the name squatted since), so every conflict is read back. The
level-triggered "ensure" of a waiting attempt's children reads first and creates only on 404
(``ensure``), which costs the same one call per reconcile as a create answered 409 did.
"""

from __future__ import annotations

from typing import Any

from kuberun_operator.backends.base import BackendError
from kuberun_operator.kube import ApiError, Kube

NAME_CONFLICT = "NameConflict"


class NameConflict(BackendError):
    def __init__(self, obj: dict[str, Any], why: str) -> None:
        meta = obj["metadata"]
        super().__init__(NAME_CONFLICT, f"{obj['kind']} {meta['namespace']}/{meta['name']} already exists and {why}; "
                         "kuberun does not adopt it: delete or rename it, or rename the Experiment", permanent=True)


def _owner_uid(obj: dict[str, Any]) -> str:
    """The controller owner UID our manifest names (builders always set exactly one)."""
    return next((o["uid"] for o in obj["metadata"].get("ownerReferences", []) if o.get("controller")), "")


def controller_of(found: dict[str, Any]) -> dict[str, Any] | None:
    return next((o for o in found.get("metadata", {}).get("ownerReferences") or [] if o.get("controller")), None)


def check_owner(wanted: dict[str, Any], found: dict[str, Any]) -> None:
    """Raise NameConflict unless ``found`` is controlled by the owner ``wanted`` names."""
    owner = controller_of(found)
    if owner is None:
        raise NameConflict(wanted, "has no controller ownerReference")
    if owner.get("uid") != _owner_uid(wanted):
        raise NameConflict(wanted, f"is controlled by {owner.get('kind')} {owner.get('name')!r} (uid {owner.get('uid')}), "
                                   "not by this Experiment")


async def _read(kube: Kube, wanted: dict[str, Any]) -> dict[str, Any] | None:
    meta = wanted["metadata"]
    try:
        return await kube.get_child(wanted["kind"], meta["namespace"], meta["name"])
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise BackendError("ApiUnavailable", f"reading {wanted['kind']} {meta['name']}: {exc}", permanent=False) from None


async def verify(kube: Kube, wanted: dict[str, Any]) -> None:
    """After a 409 for ``wanted``: return if the existing object is controlled by the same owner, else raise."""
    found = await _read(kube, wanted)
    if found is None:  # deleted between the create and the read: the next reconcile creates it
        raise BackendError("ApiUnavailable", f"{wanted['kind']} {wanted['metadata']['name']} vanished after a "
                           "conflict; retrying", permanent=False)
    check_owner(wanted, found)


async def ensure(kube: Kube, wanted: dict[str, Any]) -> None:
    """Level-triggered: ``wanted`` exists and is ours afterwards (read first, create on 404)."""
    found = await _read(kube, wanted)
    if found is not None:
        check_owner(wanted, found)
        return
    try:
        await kube.create(wanted)
    except ApiError as exc:
        if exc.status != 409:
            raise BackendError("ApiUnavailable", f"creating {wanted['kind']}: {exc}", permanent=False) from None
        await verify(kube, wanted)
