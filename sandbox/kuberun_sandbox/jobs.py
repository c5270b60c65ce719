"""The Job controller's decisions, as pure functions: given a Job and its pods, which pods to create
or delete and what the Job's status becomes. ``node.py`` applies them over the API."""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime, timezone
from typing import Any

from kuberun.resource.times import format_time, parse_time, utcnow

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
TERMINAL = ("Succeeded", "Failed")


def now_iso(at: datetime | None = None) -> str:
    return format_time(at or utcnow())


parse_iso = parse_time  # the one RFC 3339 parser (kuberun.resource.times)


@dataclasses.dataclass
class Plan:
    status: dict[str, Any]
    create: list[int | None] = dataclasses.field(default_factory=list)  # completion indexes (None: NonIndexed)
    delete: list[str] = dataclasses.field(default_factory=list)        # pod names
    deadline: datetime | None = None                                    # reconcile again at this time


def finished(status: dict[str, Any]) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in status.get("conditions") or [])


def set_condition(status: dict[str, Any], ctype: str, value: str, reason: str, message: str, at: str) -> None:
    """Add or update a condition; lastTransitionTime only moves when the status value changes."""
    conditions = status.setdefault("conditions", [])
    for cond in conditions:
        if cond["type"] == ctype:
            if (cond["status"], cond.get("reason"), cond.get("message")) == (value, reason, message):
                return  # unchanged: rewriting the probe time would make every reconcile a status write
            if cond["status"] != value:
                cond.update(status=value, lastTransitionTime=at)
            cond.update(reason=reason, message=message, lastProbeTime=at)
            return
    conditions.append({"type": ctype, "status": value, "reason": reason, "message": message,
                       "lastProbeTime": at, "lastTransitionTime": at})


def pod_index(pod: dict[str, Any]) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(INDEX_KEY)
    return int(value) if value is not None and value.isdigit() else None


def _phase(pod: dict[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase", "Pending")


def _is_active(pod: dict[str, Any]) -> bool:
    return _phase(pod) not in TERMINAL and not pod["metadata"].get("deletionTimestamp")


def compress_indexes(indexes: set[int]) -> str:
    """Kubernetes' ``completedIndexes`` format: ``0-2,5,7,8`` (a run of two is written ``7,8``, as the
    real Job controller's ``orderedIntervals.String`` does)."""
    runs: list[list[int]] = []
    for i in sorted(indexes):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else f"{a},{b}" if b == a + 1 else f"{a}-{b}" for a, b in runs)


def complete_immediately(job: dict[str, Any], at: datetime) -> Plan:
    """Benchmark mode: every Job succeeds at once, without pods."""
    status = copy.deepcopy(job.get("status") or {})
    if finished(status) or job["spec"].get("suspend"):
        return Plan(status=status)
    stamp = now_iso(at)
    status.update(startTime=status.get("startTime", stamp), completionTime=stamp, active=0, ready=0,
                  succeeded=job["spec"].get("completions") or 1, failed=0)
    set_condition(status, "Complete", "True", "CompletionsReached", "Completed without running (benchmark mode)",
                  stamp)
    return Plan(status=status)


def plan(job: dict[str, Any], pods: list[dict[str, Any]], at: datetime) -> Plan:
    """What the Job controller does next for ``job`` whose pods are ``pods``."""
    spec, stamp = job["spec"], now_iso(at)
    status = copy.deepcopy(job.get("status") or {})
    active = [p for p in pods if _is_active(p)]
    if finished(status):
        return Plan(status=status, delete=[p["metadata"]["name"] for p in active])
    indexed = spec.get("completionMode") == "Indexed"
    succeeded_pods = [p for p in pods if _phase(p) == "Succeeded"]
    done_indexes = {i for i in map(pod_index, succeeded_pods) if i is not None}
    failed = sum(1 for p in pods if _phase(p) == "Failed")
    succeeded = len(done_indexes) if indexed else len(succeeded_pods)
    status.update(active=len(active), ready=sum(1 for p in active if _phase(p) == "Running"),
                  succeeded=succeeded, failed=failed)
    if indexed:
        status["completedIndexes"] = compress_indexes(done_indexes)
    if spec.get("suspend"):
        return _suspend(status, active, stamp)
    if any(c["type"] == "Suspended" and c["status"] == "True" for c in status.get("conditions") or []):
        # Resuming restarts the clock of activeDeadlineSeconds, as the Job controller does.
        set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", stamp)
        status.pop("startTime", None)
    status.setdefault("startTime", stamp)
    return _progress(spec, status, active, done_indexes, succeeded, failed, at)


def _suspend(status: dict[str, Any], active: list[dict[str, Any]], stamp: str) -> Plan:
    status.update(active=0, ready=0)
    status.pop("startTime", None)
    set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", stamp)
    return Plan(status=status, delete=[p["metadata"]["name"] for p in active])


def _progress(spec: dict[str, Any], status: dict[str, Any], active: list[dict[str, Any]], done_indexes: set[int],
              succeeded: int, failed: int, at: datetime) -> Plan:
    stamp = now_iso(at)
    active_names = [p["metadata"]["name"] for p in active]
    deadline_s = spec.get("activeDeadlineSeconds")
    deadline = None
    if deadline_s is not None:
        deadline = parse_iso(status["startTime"]).timestamp() + int(deadline_s)
    if failed > spec.get("backoffLimit", 6):
        return _fail(status, active_names, "BackoffLimitExceeded", "Job has reached the specified backoff limit", stamp)
    if deadline is not None and at.timestamp() >= deadline:
        return _fail(status, active_names, "DeadlineExceeded", "Job was active longer than specified deadline", stamp)
    completions, parallelism = spec.get("completions"), spec.get("parallelism", 1)
    complete = succeeded >= 1 and not active if completions is None else succeeded >= completions
    if complete:
        status.update(completionTime=stamp, active=0, ready=0)
        set_condition(status, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods",
                      stamp)
        return Plan(status=status, delete=active_names)
    slots = max(0, parallelism - len(active))
    if spec.get("completionMode") == "Indexed":
        running = {pod_index(p) for p in active}
        missing = [i for i in range(completions or 0) if i not in done_indexes and i not in running]
        create: list[int | None] = list(missing[:slots])
    else:
        remaining = (completions - succeeded - len(active)) if completions is not None else (0 if succeeded else slots)
        create = [None] * min(slots, max(0, remaining))
    # As the Job controller's manageJob does: the pods it is about to create count as active already,
    # so the status written now is the one the next look would write (one status write fewer).
    status["active"] = len(active) + len(create)
    when = datetime.fromtimestamp(deadline, timezone.utc) if deadline is not None else None
    return Plan(status=status, create=create, deadline=when)


def _fail(status: dict[str, Any], active_names: list[str], reason: str, message: str, stamp: str) -> Plan:
    status.update(active=0, ready=0)
    set_condition(status, "Failed", "True", reason, message, stamp)
    return Plan(status=status, delete=active_names)
