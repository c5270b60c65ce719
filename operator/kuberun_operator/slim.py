"""What the operator keeps of a watched object: the fields reconcile reads, and nothing else.

The operator holds every live Experiment, its Jobs and their pods in memory (``controller.py``'s
``experiments``, ``backends/kubernetes/caches.py``). As served, most of each object is what no
reconcile reads: ``managedFields`` (often larger than the spec), a Job's pod template (with the
runner document, up to 32 KiB, which every pod inherits as an annotation), a pod's spec. At 10,000
live Experiments that was most of the operator's memory (docs/scale.md, "Memory"). One home for
the rule, so a reader of a new field adds it here (and ``tests/unit/operator/test_slim.py`` says
which fields the readers need).
"""

from __future__ import annotations

from typing import Any

from kuberun_operator.backends.kubernetes.status import COMPLETION_INDEX

# Metadata the caches' readers use: identity, ownership, labels, lifecycle.
CHILD_METADATA = ("name", "namespace", "uid", "resourceVersion", "generation", "labels", "ownerReferences",
                  "creationTimestamp", "deletionTimestamp")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def experiment(body: dict[str, Any]) -> dict[str, Any]:
    """The Experiment without ``managedFields`` and kubectl's copy of the last applied object.

    Everything else stays: the controller decodes the spec and status, carries unknown fields
    back, and the recorder archives the rest of the metadata."""
    meta = body.get("metadata")
    if not isinstance(meta, dict) or ("managedFields" not in meta and LAST_APPLIED not in (meta.get("annotations") or {})):
        return body
    kept = {k: v for k, v in meta.items() if k != "managedFields"}
    if LAST_APPLIED in (kept.get("annotations") or {}):
        kept["annotations"] = {k: v for k, v in kept["annotations"].items() if k != LAST_APPLIED}
    return {**body, "metadata": kept}


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {k: meta[k] for k in CHILD_METADATA if k in meta}


def job(body: dict[str, Any]) -> dict[str, Any]:
    """A Job as ``status.task_phase_from_job`` and the backend read it: metadata, ``spec.suspend``, status."""
    spec = body.get("spec") or {}
    return {"metadata": _metadata(body), "spec": {"suspend": spec["suspend"]} if "suspend" in spec else {},
            "status": body.get("status") or {}}


def pod(body: dict[str, Any]) -> dict[str, Any]:
    """A pod as ``stuck_reason``, ``exit_code_from_pods`` and ``summary_from_pods`` read it: metadata
    (with only the completion-index annotation) and status."""
    meta = _metadata(body)
    index = ((body.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX)
    if index is not None:
        meta["annotations"] = {COMPLETION_INDEX: index}
    return {"metadata": meta, "status": body.get("status") or {}}
