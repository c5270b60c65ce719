"""Archived records for record-server tests, written as the operator's recorder would (archive + log store APIs)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import kuberun as kr


def experiment(ns: str, title: str, *, phase: str = "Succeeded", attempt_phase: str = "Succeeded",
               log_ref: dict[str, Any] | None = None, executor: Any = None, submitter: str | None = None) -> dict[str, Any]:
    """A finished one-task (``train``) Experiment object as the API server would have held it."""
    exp = kr.Experiment(title, namespace=ns)
    exp.add(kr.Script(inline="echo hi"), name="train", executor=executor or kr.SlurmExecutor(cluster="c1"))
    obj = exp.build()[0].to_dict()
    uid = str(uuid.uuid4())
    # A name that does not spell the title: the title is what must not leak, the name is what was asked.
    obj["metadata"].update(name=f"run-{uid[:8]}", uid=uid, creationTimestamp="2026-11-30T10:00:00Z")
    obj["spec"]["submittedBy"] = submitter or ("alice" if ns == "team-a" else "bob")
    obj["status"] = {"phase": phase, "completionTime": "2026-11-30T10:05:00Z", "tasks": [{
        "name": "train", "phase": attempt_phase, "attempt": 0, "attempts": [{
            "attempt": 0, "phase": attempt_phase,
            "backendRef": {"backend": "slurm", "idempotencyKey": f"{uid}-train-0", "id": "42", "cluster": "c1"},
            "logRef": log_ref or {"kind": "slurm", "path": "/work/train-0.out"}}]}]}
    return obj


def archive(archive_url: str, store_dir: Any, obj: dict[str, Any], log: bytes | None = None) -> None:
    """Record ``obj`` (with one Event) in the archive and, with ``log``, its attempt 0 log in the store."""
    from kuberun_operator.archive import Archive

    with Archive.open(archive_url) as db:
        db.record(obj, [{"metadata": {"uid": f"event-{obj['metadata']['uid']}"}, "reason": "Succeeded",
                         "message": "all tasks succeeded", "lastTimestamp": "2026-11-30T10:05:00Z"}])
        if log is not None:
            location = store_log(store_dir, obj, log)
            db.record_location(obj["metadata"]["uid"], "train", 0, "log", location.url, location.size, location.sha256)


def store_log(store_dir: Any, obj: dict[str, Any], log: bytes) -> Any:
    """Put attempt 0's log of task ``train`` where the recorder puts it; returns the Location."""
    from kuberun_operator.logstore import LogStore, paths

    meta = obj["metadata"]
    store = LogStore.from_url(str(store_dir))
    return asyncio.run(store.put_bytes(paths.log_key(meta["namespace"], meta["name"], meta["uid"], "train", 0), log))
