"""The Job controller's view of Jobs and pods, kept from the node's own watches (an informer cache).

Why: each reconcile used to GET its Job and LIST its pods, three times per Job in its life, and at 64
concurrent Jobs those round trips (and the server's label filtering of every pod) were most of
the node's load. The watches the node has open anyway deliver every change, so the cache is
updated *before* the change enqueues its Job, and a reconcile reads what woke it.

Two rules keep it from going stale the way informers can:
- write-through: the answers to the controller's own writes (a created pod, a written status, a
  deletion) go into the cache at once, so a reconcile that follows before the watch echoes them
  does not create a pod twice (what client-go's Job controller calls *expectations*);
- a resourceVersion guard: an older copy (a late watch event) never replaces a newer one.
A relist replaces everything (objects that went away included). A 409 on a status write means the
cached Job was stale: the controller reads it fresh (``node.py``).
"""

from __future__ import annotations

import copy
from typing import Any

Key = tuple[str, str]


def _rv(obj: dict[str, Any]) -> int | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _newer_or_same(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    if old is None:
        return True
    a, b = _rv(new), _rv(old)
    return a is None or b is None or a >= b


class Cache:
    def __init__(self) -> None:
        self.jobs: dict[Key, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}           # pod uid -> pod
        self._by_owner: dict[str, set[str]] = {}              # controller (Job) uid -> pod uids

    # --- Jobs ------------------------------------------------------------------------------
    def job(self, key: Key) -> dict[str, Any] | None:
        return self.jobs.get(key)

    def put_job(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        key = (meta["namespace"], meta["name"])
        if _newer_or_same(job, self.jobs.get(key)):
            self.jobs[key] = job

    def drop_job(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        key = (meta["namespace"], meta["name"])
        if (self.jobs.get(key) or {}).get("metadata", {}).get("uid") == meta.get("uid"):
            del self.jobs[key]

    def replace_jobs(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = {(j["metadata"]["namespace"], j["metadata"]["name"]): j for j in jobs}

    # --- pods ------------------------------------------------------------------------------
    def pods_of(self, job_uid: str) -> list[dict[str, Any]]:
        return [self.pods[uid] for uid in sorted(self._by_owner.get(job_uid, ())) if uid in self.pods]

    def put_pod(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        if not _newer_or_same(pod, self.pods.get(uid)):
            return
        self.pods[uid] = pod
        owner = _owner(pod)
        if owner:
            self._by_owner.setdefault(owner, set()).add(uid)

    def drop_pod(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        self.pods.pop(uid, None)
        owner = _owner(pod)
        if owner and owner in self._by_owner:
            self._by_owner[owner].discard(uid)
            if not self._by_owner[owner]:
                del self._by_owner[owner]

    def deleting_pod(self, namespace: str, name: str, at: str) -> None:
        """The controller deleted this pod: it no longer counts as active, whatever the watch says yet."""
        for uid, pod in self.pods.items():
            meta = pod["metadata"]
            if (meta["namespace"], meta["name"]) == (namespace, name) and not meta.get("deletionTimestamp"):
                marked = copy.copy(pod)
                marked["metadata"] = {**meta, "deletionTimestamp": at}
                self.pods[uid] = marked

    def replace_pods(self, pods: list[dict[str, Any]]) -> None:
        self.pods, self._by_owner = {}, {}
        for pod in pods:
            self.put_pod(pod)


def _owner(pod: dict[str, Any]) -> str:
    return str((pod["metadata"].get("labels") or {}).get("controller-uid", ""))
