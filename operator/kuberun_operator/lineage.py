"""Reproductions recorded on the original, so reading an Experiment's lineage is one GET, not a list.

``kr.Experiment.reproduce`` labels the new Experiment ``kuberun.dev/reproduced-from: <original>`` and
annotates it with the original's UID. Finding an original's reproductions by that label is a
selector over every Experiment of the namespace — O(N) on any API server, the cost that kept
``kuberun describe`` from staying flat. So on a reproduction's first reconcile (it has no status
yet) the operator appends ``{name, uid, created}`` to the original's ``status.lineage`` and counts
it; readers take the lineage from the original itself.

Who may write where: the original is looked up only in the reproduction's own namespace (the label
holds a name, never a namespace), and only when its UID is the one the reproduction names — so a
reproduction in namespace B cannot touch an Experiment in A, nor one re-created under the old name.
Only the operator writes status. The write is the whole status guarded by resourceVersion (the
controller's own write), retried a bounded number of times on conflict; it is idempotent by UID.

Originals first reconciled before this field have no ``status.lineage``; the first reproduction
recorded on one seeds the lineage from the operator's cache of the namespace's Experiments (the
label, once), so the field, once present, is complete. A brand-new Experiment gets ``{count: 0}`` on
its first status write (``mark_new``): readers trust a present field and fall back to the label query
only when it is absent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from kuberun.resource.constants import ANNOTATION_REPRODUCED_FROM_UID, LABEL_REPRODUCED_FROM
from kuberun.resource.status import MAX_LINEAGE, ExperimentStatus, Lineage
from kuberun_operator.kube import ApiError, Kube

log = logging.getLogger("kuberun.operator")
WRITE_TRIES = 3  # conflicting writes before giving up for this reconcile (the caller retries it)
Key = tuple[str, str]


def mark_new(body: dict[str, Any], status: ExperimentStatus) -> None:
    """An Experiment's first status starts its lineage at zero: from now on the field is complete."""
    if body.get("status") is None and status.lineage is None:
        status.lineage = Lineage(count=0)


def _ref(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    ref = {"name": meta["name"], "uid": meta.get("uid", "")}
    if meta.get("creationTimestamp"):
        ref["created"] = meta["creationTimestamp"]
    return ref


def _seed(original: dict[str, Any], experiments: Mapping[Key, dict[str, Any]]) -> list[dict[str, Any]]:
    """An original without the field: its reproductions so far, from the cache (oldest first)."""
    meta = original["metadata"]
    same = (experiments[k] for k in list(experiments) if k[0] == meta["namespace"])  # decoded only when in the namespace
    found = [b for b in same
             if ((b.get("metadata") or {}).get("labels") or {}).get(LABEL_REPRODUCED_FROM) == meta["name"]
             and (b["metadata"].get("annotations") or {}).get(ANNOTATION_REPRODUCED_FROM_UID, meta.get("uid")) == meta.get("uid")]
    found.sort(key=lambda b: (b["metadata"].get("creationTimestamp") or "", b["metadata"]["name"]))
    return [_ref(b) for b in found]


def appended(original: dict[str, Any], child: dict[str, Any],
             experiments: Mapping[Key, dict[str, Any]]) -> dict[str, Any] | None:
    """The original's new status with ``child`` recorded, or None when there is nothing to write. Pure."""
    status = original.get("status")
    if not status:
        return None  # never reconciled (a reproduce reads the original's record, so rare): not recorded
    lineage = status.get("lineage")
    if lineage is None:
        recent = _seed(original, experiments)
        count = len(recent)
    else:
        recent, count = list(lineage.get("recent") or []), int(lineage.get("count") or 0)
    uid = child["metadata"].get("uid", "")
    if any(r.get("uid") == uid for r in recent):
        if lineage is not None:
            return None  # already recorded (idempotent)
    else:
        recent.append(_ref(child))
        count += 1
    new_lineage: dict[str, Any] = {"count": count}
    if recent:
        new_lineage["recent"] = recent[-MAX_LINEAGE:]
    return {**status, "lineage": new_lineage}


def _original_of(body: dict[str, Any]) -> tuple[Key, str | None] | None:
    meta = body["metadata"]
    origin = (meta.get("labels") or {}).get(LABEL_REPRODUCED_FROM)
    if not origin or origin == meta["name"]:
        return None
    return (meta["namespace"], origin), (meta.get("annotations") or {}).get(ANNOTATION_REPRODUCED_FROM_UID) or None


async def record(kube: Kube, experiments: MutableMapping[Key, dict[str, Any]], body: dict[str, Any]) -> None:
    """On a reproduction's first reconcile, record it on its original (same namespace, same UID only).

    A missing or different original is no error (deleted, or re-created under the name). Conflicts
    are retried ``WRITE_TRIES`` times with a fresh read; other API errors propagate, so the
    controller retries the whole reconcile (the reproduction still has no status then).
    """
    if body.get("status") is not None:
        return
    found = _original_of(body)
    if found is None:
        return
    key, want_uid = found
    original = experiments.get(key)
    for _ in range(WRITE_TRIES):
        if original is None:
            try:
                original = await kube.get_experiment(*key)
            except ApiError as exc:
                if exc.status == 404:
                    return
                raise
        if want_uid is not None and original["metadata"].get("uid") != want_uid:
            return  # another Experiment under the original's name
        new = appended(original, body, experiments)
        if new is None:
            return
        meta = original["metadata"]
        try:
            experiments[key] = await kube.replace_experiment_status(key[0], key[1], meta["resourceVersion"], new)
            return
        except ApiError as exc:
            if exc.status == 404:
                return
            if exc.status != 409:
                raise
            original = None  # someone wrote first: read it again
    log.info("lineage of %s/%s not recorded on %s: kept conflicting", body["metadata"]["namespace"],
             body["metadata"]["name"], key[1])
    raise ApiError(409, "Conflict", f"the lineage write to {key[1]!r} kept conflicting")
