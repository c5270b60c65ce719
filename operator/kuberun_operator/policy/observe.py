"""Observation: what a backend reports about an active task's latest attempt, folded into status."""

from __future__ import annotations

from kuberun.resource import ArrayIndexStatus, AttemptStatus, BackendRef, TaskPhase, TaskSpec, TaskStatus
from kuberun.resource.constants import MAX_MESSAGE
from kuberun_operator.actions import Observed, Submit
from kuberun_operator.policy.dag import idempotency_key
from kuberun_operator.policy.early import queue_behind
from kuberun_operator.policy.results import record_summary
from kuberun_operator.policy.retries import after_failure
from kuberun_operator.policy.round import ACTIVE, Round

# An array index's phase from its observed state ("lost": its job is gone, counted as failed).
INDEX_PHASES = {"pending": TaskPhase.SUBMITTED, "running": TaskPhase.RUNNING, "suspended": TaskPhase.SUSPENDED,
                "succeeded": TaskPhase.SUCCEEDED, "failed": TaskPhase.FAILED, "lost": TaskPhase.FAILED}
LOOK_AGAIN = 10.0  # seconds: a recorded child the backend does not show right now is looked for again


def adopt_unrecorded(r: Round, task: TaskSpec) -> None:
    """A child the record lacks (created, then the status write naming it lost a race) is adopted
    under its attempt number, with its identity: never submitted again, and it follows
    spec.suspend and spec.shutdown like any recorded attempt."""
    record = r.record(task.name)
    if record.phase.finished:
        return
    number = (record.attempts[-1].attempt + 1) if record.attempts else 1
    seen = r.observed.get((task.name, number))
    if seen is None or seen.state == "lost":
        return
    key = idempotency_key(r.exp.metadata.uid or "", task.name, number)
    ref = BackendRef(backend=task.executor.backend, idempotency_key=key, id=seen.backend_id,  # type: ignore[arg-type]
                     uid=seen.backend_uid)
    record.attempts.append(AttemptStatus(attempt=number, phase=TaskPhase.SUBMITTED, backend_ref=ref, submit_time=r.now))
    record.attempt, record.phase, record.next_retry_time = number, TaskPhase.SUBMITTED, None
    record.exit_code = record.reason = record.message = record.finish_time = None
    r.status.start_time = r.status.start_time or r.now


def observe_task(r: Round, task: TaskSpec) -> None:
    record = r.record(task.name)
    if not record.attempts or record.phase not in ACTIVE:
        return
    current = record.attempts[-1]
    seen = r.observed.get((task.name, current.attempt))
    if seen is None:
        if current.backend_ref is not None and current.backend_ref.uid:
            # The child existed (its identity is recorded) and is not visible right now: wait for
            # the backend to see it or to confirm it gone ("lost"). Never create it again under
            # the same attempt: that would run the task a second time and hide the first run.
            r.requeue(LOOK_AGAIN)
            return
        # Recorded but never seen at the backend: (re)submit. Submission is idempotent under the
        # attempt's key, so a Job created just before a crash is found, not doubled. This is also
        # the second phase of the two-phase submit (see dag.new_attempt).
        if current.backend_ref is not None:
            after = queue_behind(r, task)
            if after is None:
                # Queued behind parents that can no longer be waited for there (one failed since
                # phase one): drop_orphans settles it in this round; never submit it unguarded.
                r.requeue(LOOK_AGAIN)
                return
            r.act(Submit(task.name, current.attempt, current.backend_ref, after))
        return
    if seen.state == "lost":
        _attempt_lost(r, task, record, current, seen)
        sync_task(record, current)
        return
    if current.backend_ref is not None and seen.backend_uid and not current.backend_ref.uid:
        current.backend_ref.uid = seen.backend_uid  # at-most-once from here on: this child, and no other
    if current.backend_ref is not None and seen.backend_id and current.backend_ref.id != seen.backend_id:
        current.backend_ref.id = seen.backend_id  # e.g. a launch request id becomes the job id
    current.log_ref = seen.log_ref or current.log_ref
    if seen.indices:
        current.indices = [ArrayIndexStatus(index=i.index, phase=INDEX_PHASES[i.state], exit_code=i.exit_code)
                           for i in seen.indices]
    if seen.components:
        current.het_components = list(seen.components)
    if seen.start_time and not current.start_time:
        # Job times are whole seconds, submit times are not: an attempt never starts before it was submitted.
        current.start_time = max(seen.start_time, current.submit_time) if current.submit_time else seen.start_time
    if seen.state == "running":
        current.phase = TaskPhase.RUNNING
    elif seen.state == "suspended":
        current.phase = TaskPhase.SUSPENDED
    elif seen.state == "pending" and current.phase is TaskPhase.SUSPENDED:
        current.phase = TaskPhase.SUBMITTED  # resumed, its pod not running yet
    elif seen.state in ("succeeded", "failed"):
        _attempt_finished(r, task, record, current, seen)
    sync_task(record, current)


def _attempt_finished(r: Round, task: TaskSpec, record: TaskStatus, current: AttemptStatus, seen: Observed) -> None:
    ok = seen.state == "succeeded"
    current.phase = TaskPhase.SUCCEEDED if ok else TaskPhase.FAILED
    current.finish_time = seen.finish_time or r.now
    floor = current.start_time or current.submit_time
    if floor is not None and current.finish_time < floor:
        current.finish_time = floor  # whole-second Job times again: never finished before started
    current.exit_code = seen.exit_code if seen.exit_code is not None else (0 if ok else None)
    current.reason = seen.reason or ("Completed" if ok else "Failed")
    current.message = (seen.message or None) and seen.message[:MAX_MESSAGE]
    record_summary(current, seen.summary, r.status)
    if not ok:
        after_failure(r, task, record, current)


def _attempt_lost(r: Round, task: TaskSpec, record: TaskStatus, current: AttemptStatus, seen: Observed) -> None:
    """The attempt's child vanished after it was created: the attempt failed (JobLost); retries decide."""
    current.phase, current.finish_time, current.exit_code = TaskPhase.FAILED, r.now, None
    current.reason = seen.reason or "JobLost"
    what = current.backend_ref.id if current.backend_ref is not None and current.backend_ref.id else "its child"
    current.message = (seen.message or f"{what} disappeared after it was created (deleted or garbage-collected); "
                       "the attempt is not run again under the same number")[:MAX_MESSAGE]
    after_failure(r, task, record, current)


def sync_task(record: TaskStatus, current: AttemptStatus) -> None:
    """The task's summary fields follow its latest attempt."""
    record.attempt = current.attempt
    record.start_time = record.start_time or current.start_time
    record.exit_code, record.reason, record.message = current.exit_code, current.reason, current.message
    if record.phase is TaskPhase.PENDING and record.next_retry_time:
        return  # waiting to retry
    record.phase = current.phase
    if current.phase.finished:
        record.finish_time = current.finish_time
