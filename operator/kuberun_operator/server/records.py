"""The records the server reads, with the operator's credentials: the live Experiment, else the archive.

Authorization has already been decided (by ``auth.Reviewer``) before anything here runs, so a
denied caller never learns whether a record exists. An archived record is returned as the object
it last was (``ArchivedExperiment.to_object``) plus an ``archive`` block saying when it was
archived and deleted, so clients can label it as archived. Its status gets back the attempts the
status budget dropped (``kuberun.resource.history``), from the archive's attempt rows, each with
its archived log's location; ``archive.attemptsRestored`` says how many.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kuberun.resource.constants import GROUP, PLURAL, VERSION
from kuberun.resource.history import merge_attempts, omitted


class Records:
    """Reads one Experiment live (``api_client``: the operator's ``kuberun.api.Kube``) or from ``archive``."""

    def __init__(self, api_client: Any | None, archive: Any | None) -> None:
        self._api, self.archive = api_client, archive

    async def live(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Experiment as stored, or None when it is gone (404)."""
        if self._api is None:
            return None
        from kuberun.api import Op
        from kuberun.errors import ObjectNotFoundError

        op = Op("get", f"{PLURAL}.{GROUP}", namespace, name)
        try:
            return await asyncio.to_thread(self._api.get, f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}", op)
        except ObjectNotFoundError:
            return None

    async def archived(self, namespace: str, name: str, uid: str | None = None) -> dict[str, Any] | None:
        """The newest archived record of ``namespace/name`` (or the one with ``uid``), as a document."""
        if self.archive is None:
            return None
        if uid:
            rec = await self.archive.get_uid(uid)
            if rec is None or rec.namespace != namespace or rec.name != name:
                return None  # a uid of another namespace's record answers as absent: no cross-namespace reads
        else:
            rec = await self.archive.get(namespace, name)
        if rec is None:
            return None
        rec.status, restored = merge_attempts(rec.status, await self.history(rec.uid))
        doc = document(rec, full=True)
        doc["archive"]["attemptsRestored"] = restored
        return doc

    async def config_maps(self, namespace: str, name: str, uid: str | None = None) -> list[dict[str, Any]] | None:
        """The ConfigMaps the archive kept for the newest record of ``namespace/name`` (or ``uid``); None: no record."""
        if self.archive is None:
            return None
        rec = await (self.archive.get_uid(uid) if uid else self.archive.get(namespace, name))
        if rec is None or rec.namespace != namespace or rec.name != name:
            return None
        return await self.archive.config_maps(rec.uid, namespace)

    async def history(self, uid: str) -> list[tuple[str, dict[str, Any]]]:
        """Every archived attempt of ``uid`` as ``(task, status entry)``, each with its log's location."""
        if self.archive is None:
            return []
        logs = {(loc.task, loc.attempt): loc for loc in await self.archive.locations(uid, kind="log")}
        out = []
        for row in await self.archive.attempts(uid):
            entry = dict(row.document)
            loc = logs.get((row.task, row.attempt))
            if loc is not None and "archivedLog" not in entry:
                entry["archivedLog"] = {k: v for k, v in (("url", loc.url), ("size", loc.size), ("sha256", loc.sha256))
                                        if v is not None}
            out.append((row.task, entry))
        return out

    async def either(self, namespace: str, name: str, uid: str | None = None) -> dict[str, Any] | None:
        """The live object (when its uid matches, if one is asked for; with the attempts its status
        dropped put back from the archive), else the archived record."""
        obj = await self.live(namespace, name)
        if obj is not None and (not uid or (obj.get("metadata") or {}).get("uid") == uid):
            if omitted(obj.get("status")) and self.archive is not None:  # attempts the status budget dropped
                obj["status"], _ = merge_attempts(obj.get("status"), await self.history(obj["metadata"]["uid"]))
            return obj
        return await self.archived(namespace, name, uid)


def document(rec: Any, *, full: bool) -> dict[str, Any]:
    """An archived record as JSON: the object (summaries: metadata from the columns) and an ``archive`` block."""
    if full:
        obj = rec.to_object()
    else:
        obj = {"apiVersion": rec.api_version, "kind": "Experiment",
               "metadata": {"name": rec.name, "namespace": rec.namespace, "uid": rec.uid, "labels": rec.labels,
                            "creationTimestamp": _time(rec.created)},
               "spec": {"title": rec.title, **({"submittedBy": rec.submitter} if rec.submitter else {})}}
        if rec.status is not None:
            obj["status"] = rec.status
    obj["archive"] = {"archivedAt": _time(rec.archived_at), "deleted": _time(rec.deleted),
                      "finished": _time(rec.finished), "eventsDropped": rec.events_dropped}
    if full:
        obj["archive"]["events"] = rec.events or []
    return obj


def _time(value: Any) -> str | None:
    from kuberun.resource.times import format_time

    return format_time(value) if value is not None else None
