"""Experiment objects as the API server returns them, for the archive tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from kuberun.resource.constants import LABEL_REPRODUCED_FROM

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def experiment(name: str = "exp", *, namespace: str = "team-a", uid: str | None = None, created: datetime = T0,
               title: str = "an experiment", submitter: str | None = "alice", phase: str | None = "Succeeded",
               labels: dict[str, str] | None = None, finished: datetime | None = None,
               reproduced_from: tuple[str, str] | None = None, status_extra: dict[str, Any] | None = None,
               deleted: datetime | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid or str(uuid.uuid4()),
                            "creationTimestamp": rfc3339(created), "resourceVersion": "7", "generation": 1,
                            "labels": dict(labels or {}),
                            "managedFields": [{"manager": "kubectl", "operation": "Update"}]}
    if reproduced_from:
        meta["labels"][LABEL_REPRODUCED_FROM] = reproduced_from[1]
        meta["annotations"] = {"kuberun.dev/reproduced-from-uid": reproduced_from[0]}
    if deleted:
        meta["deletionTimestamp"] = rfc3339(deleted)
    spec: dict[str, Any] = {"title": title, "tasks": [{"name": "main", "script": {"inline": "echo hi"},
                                                     "executor": {"local": {}}}]}
    if submitter:
        spec["submittedBy"] = submitter
    obj: dict[str, Any] = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "metadata": meta, "spec": spec}
    if phase:
        status: dict[str, Any] = {"phase": phase, "startTime": rfc3339(created + timedelta(seconds=1)),
                                  "tasks": [{"name": "main", "phase": phase, "attempt": 0}]}
        if finished or phase in ("Succeeded", "Failed", "Cancelled"):
            status["completionTime"] = rfc3339(finished or created + timedelta(minutes=5))
        status.update(status_extra or {})
        obj["status"] = status
    return obj


def event(uid: str, reason: str, when: datetime, count: int = 1, message: str = "") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"uid": uid, "name": f"exp.{uid}"},
            "reason": reason, "message": message or reason, "count": count, "type": "Normal",
            "firstTimestamp": rfc3339(when), "lastTimestamp": rfc3339(when)}
