"""Pure readers of Kubernetes state: a Job's status -> an attempt's state; pods -> its exit code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from kuberun.resource import results
from kuberun.resource.constants import MAX_MESSAGE
from kuberun.resource.times import parse_time

JobState = Literal["pending", "running", "succeeded", "failed", "suspended"]

CONTAINER = "task"
LABEL_KUEUE_QUEUE = "kueue.x-k8s.io/queue-name"
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)
# Since Kubernetes 1.31 the Job controller sets FailureTarget / SuccessCriteriaMet as soon as the
# outcome is decided and Failed / Complete only once every pod has terminated. The outcome is what
# reconcile needs (to retry or start dependents), so the interim conditions count as terminal.
_SUCCEEDED = ("Complete", "SuccessCriteriaMet")
_FAILED = ("Failed", "FailureTarget")
# Reasons that restate the exit code ("Error") or success add nothing to a message.
_PLAIN_REASONS = {None, "", "Error", "Completed"}


@dataclass(frozen=True)
class ObservedJob:
    """What a Job's status says about its attempt."""

    state: JobState
    start_time: datetime | None = None
    finish_time: datetime | None = None
    reason: str | None = None
    message: str | None = None


def _time(value: Any) -> datetime | None:
    """A timestamp field of a Job or pod, or None when it is absent or not one."""
    try:
        return parse_time(value)
    except ValueError:
        return None


def _true_conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in status.get("conditions") or [] if c.get("status") == "True"}


def task_phase_from_job(job: dict[str, Any]) -> ObservedJob:
    """The attempt's state from its Job: terminal conditions first, then suspension, then pods."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    conditions = _true_conditions(status)
    start = _time(status.get("startTime"))
    for kind in _SUCCEEDED:
        if (c := conditions.get(kind)) is not None:
            finish = _time(status.get("completionTime")) or _time(c.get("lastTransitionTime"))
            return ObservedJob("succeeded", start, finish, c.get("reason") or "Completed", c.get("message"))
    for kind in _FAILED:
        if (c := conditions.get(kind)) is not None:
            # Failed Jobs have no completionTime; the condition's transition is when it failed.
            return ObservedJob("failed", start, _time(c.get("lastTransitionTime")),
                               c.get("reason") or "JobFailed", c.get("message"))
    if spec.get("suspend"):
        return _suspended(job, conditions.get("Suspended"))
    ready, active = status.get("ready"), status.get("active") or 0
    # `ready` counts pods past startup (all of them when there is no readiness probe); clusters
    # older than 1.24 lack it, and there an active pod is the best evidence of running.
    if (ready or 0) > 0 or (ready is None and active > 0):
        return ObservedJob("running", start)
    if active > 0:
        return ObservedJob("pending", start, reason="PodsNotReady",
                           message="pods created, not yet running (scheduling or pulling the image)")
    return ObservedJob("pending", start)


def _suspended(job: dict[str, Any], condition: dict[str, Any] | None) -> ObservedJob:
    # spec.suspend is the intent and the Suspended condition lags it, so the spec decides.
    queue = (job.get("metadata") or {}).get("labels", {}).get(LABEL_KUEUE_QUEUE)
    if queue:
        # A queue-managed Job is suspended until Kueue admits it (or after Kueue preempts it):
        # for the user that is waiting, not a suspension they asked for.
        return ObservedJob("pending", reason="WaitingForAdmission",
                           message=f"queued in Kueue LocalQueue {queue!r}, waiting for admission")
    condition = condition or {}
    return ObservedJob("suspended", reason=condition.get("reason") or "Suspended", message=condition.get("message"))


def _terminations(pod: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != CONTAINER:
            continue
        for which in ("state", "lastState"):
            terminated = (status.get(which) or {}).get("terminated")
            if terminated:
                found.append(terminated)
    return found


def _describe(pod: str, terminated: dict[str, Any]) -> str:
    code, reason, detail = terminated.get("exitCode"), terminated.get("reason"), terminated.get("message")
    text = f"container {CONTAINER!r} of pod {pod} exited with code {code}"
    if reason == "OOMKilled":
        text += " (OOMKilled: it ran out of memory; raise the executor's memory)"
    elif reason not in _PLAIN_REASONS:
        text += f" ({reason})"
    if detail and not results.looks_like_summary(str(detail)):  # the runner's summary is no explanation...
        text += f": {str(detail).strip()}"
    elif error := results.summary_error(str(detail or "")):  # ...unless it says why the runner could not run the task
        text += f": {error}"
    return text[:MAX_MESSAGE]


def exit_code_from_pods(pods: list[dict[str, Any]]) -> tuple[int | None, str | None, str | None]:
    """(exit code, pod name, message) of the attempt's most telling terminated `task` container.

    The latest non-zero termination wins (a later zero from a sibling pod does not hide a
    failure); with none, the latest termination. A pod that failed without its container ever
    terminating (evicted, deadline) yields no code but a message naming the pod's reason.
    """
    seen = [((pod.get("metadata") or {}).get("name", ""), t) for pod in pods for t in _terminations(pod)]
    if seen:
        failures = [(n, t) for n, t in seen if t.get("exitCode") != 0] or seen
        name, terminated = max(failures, key=lambda s: _time(s[1].get("finishedAt")) or _EPOCH)
        code = terminated.get("exitCode")
        return (code if isinstance(code, int) else None), name, _describe(name, terminated)
    return _pod_level_failure(pods)


COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def summary_from_pods(pods: list[dict[str, Any]]) -> results.RunSummary | None:
    """The run summary the runner left in a `task` container's termination message.

    Of a multi-node attempt, the index-0 pod's (rank 0 reports, as in torchrun); otherwise the
    latest termination carrying one.
    """
    found = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        rank0 = (meta.get("annotations") or {}).get(COMPLETION_INDEX, "0") == "0"
        for terminated in _terminations(pod):
            if results.looks_like_summary(terminated.get("message")):
                found.append((rank0, _time(terminated.get("finishedAt")) or _EPOCH, terminated["message"]))
    if not found:
        return None
    return results.parse_summary(max(found, key=lambda f: (f[0], f[1]))[2])


def _pod_level_failure(pods: list[dict[str, Any]]) -> tuple[int | None, str | None, str | None]:
    failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
    if not failed:
        return None, None, None
    pod = max(failed, key=lambda p: _time((p.get("status") or {}).get("startTime")) or _EPOCH)
    name, status = pod["metadata"].get("name", ""), pod.get("status") or {}
    reason, detail = status.get("reason") or "Failed", status.get("message") or ""
    return None, name, f"pod {name} failed: {reason}{': ' + detail if detail else ''}"[:MAX_MESSAGE]


# Waiting reasons that no amount of waiting fixes: the attempt fails with the reason as is.
# (ErrImagePull alone is left out: the kubelet retries it and a registry hiccup heals itself.)
STUCK_REASONS = frozenset({"ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"})


def stuck_reason(pods: list[dict[str, Any]]) -> tuple[str, str, str] | None:
    """(reason, message, pod name) when a `task` container waits on something it will never get."""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_REASONS:
                return waiting["reason"], (waiting.get("message") or waiting["reason"])[:MAX_MESSAGE], pod["metadata"]["name"]
    return None
