"""Retry policy: exponential backoff, capped; failures no retry can fix are not retried."""

from __future__ import annotations

from datetime import timedelta

from kuberun.resource import AttemptStatus, TaskPhase, TaskSpec, TaskStatus
from kuberun_operator.actions import Cancel
from kuberun_operator.policy.round import Round


def backoff(task: TaskSpec, failures: int, cap: int) -> float:
    """Seconds before the next attempt: backoffSeconds doubled per failure, capped."""
    return float(min(task.retries.backoff_seconds * 2 ** max(failures - 1, 0), cap))


def after_failure(r: Round, task: TaskSpec, record: TaskStatus, current: AttemptStatus) -> None:
    """A failed attempt: cancel it if its backend says no retry can help, else schedule a retry if any is left."""
    if current.reason in r.traits.of(task.executor.backend).unretryable:
        # The Job still exists, stuck; no retry can fix its cause (the user must change the spec).
        if current.backend_ref is not None:
            r.act(Cancel(task.name, current.attempt, current.backend_ref))
        return
    failures = sum(a.phase is TaskPhase.FAILED for a in record.attempts) + (record.failures_omitted or 0)
    if failures <= task.retries.limit and not r.spec.shutdown:
        delay = backoff(task, failures, r.limits.max_backoff)
        record.phase = TaskPhase.PENDING
        record.next_retry_time = (current.finish_time or r.now) + timedelta(seconds=delay)
        r.emit("Warning", "TaskRetrying",
               f"task {task.name!r} attempt {current.attempt} failed ({current.reason}); retry {failures}/"
               f"{task.retries.limit} in {delay:.0f}s")
