"""The node's periodic garbage collection: what events alone would leave behind.

Why: cleanup used to happen only in reaction to a DELETED event, so a pod deleted during a watch
gap kept its process, records and log, and a finished pod whose Job went away (its DELETED event
lost, or the API's own collector not run) stayed for ever. Every ``GC_PERIOD`` seconds the node
lists once and sweeps:

- pods this node handles that the API no longer has: their processes are stopped (after the
  termination grace) and their records, logs and cgroups dropped, as on a DELETED event;
- records on disk that no pod owns any more (``adoption.py`` handles them at start; this catches
  the rest) and empty memory cgroups;
- (as the Job controller's half, not in kubelet-only mode) pods whose controlling Job is gone: deleted,
  as Kubernetes' garbage collector deletes dependents of a missing owner.

Only pods the node saw before the listing started are judged by it: a pod created after the list
was sent is not in it and must not be taken for deleted.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from .podstate import known_uids
from .rest import KubeError, path


class SandboxNode(Protocol):
    """What a sweep needs of ``node.SandboxNode`` (named here so the two modules import one way)."""

    kubelet: Any
    rest: Any
    kubelet_only: bool

log = logging.getLogger("kuberun_sandbox.node")

GC_PERIOD = 30.0  # seconds between sweeps (SandboxNode(gc_period=...) for tests)


async def collect(node: SandboxNode) -> dict[str, int]:
    """One sweep; returns counts of what it did (for tests and logs)."""
    kubelet = node.kubelet
    listed_at = time.monotonic()
    pods: list[dict[str, Any]] = (await node.rest.get(path("", "v1", "pods"))).get("items") or []
    present = {p["metadata"]["uid"] for p in pods}
    done = {"stopped": 0, "records": 0, "orphans": 0}
    for (namespace, name), uid in list(kubelet.names.items()):
        if uid not in present and kubelet.seen_before(uid, listed_at):
            done["stopped"] += 1
            kubelet.deleted({"metadata": {"namespace": namespace, "name": name, "uid": uid}, "spec": {}})
    for uid in known_uids(kubelet.state_root):
        if uid not in present and uid not in kubelet.job_of and kubelet.seen_before(uid, listed_at):
            done["records"] += 1
            kubelet.drop_unowned(uid)
    kubelet.limiter_sweep(present)
    if not node.kubelet_only:
        done["orphans"] = await _delete_orphans(node, pods)
    if any(done.values()):
        log.info("sandbox node: garbage collection %s", done)
    return done


async def _delete_orphans(node: SandboxNode, pods: list[dict[str, Any]]) -> int:
    # Jobs are listed after the pods: every listed pod's Job was created before this list.
    jobs = (await node.rest.get(path("batch", "v1", "jobs"))).get("items") or []
    job_uids = {j["metadata"]["uid"] for j in jobs}
    deleted = 0
    for pod in pods:
        meta = pod["metadata"]
        owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller") and r.get("kind") == "Job"),
                     None)
        if owner is None or owner.get("uid") in job_uids or meta.get("deletionTimestamp"):
            continue
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": meta["uid"]}}
        try:
            await node.rest.request("DELETE", path("", "v1", "pods", meta["namespace"], meta["name"]), body)
            deleted += 1
        except KubeError as e:
            if e.code not in (404, 409):
                log.warning("garbage collection: cannot delete pod %s/%s: %s", meta["namespace"], meta["name"], e)
    return deleted
