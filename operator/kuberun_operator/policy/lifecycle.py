"""The user's lifecycle fields: ``spec.shutdown`` (Stop | Terminate) and ``spec.suspend``."""

from __future__ import annotations

from kuberun.resource import TaskPhase, TaskStatus
from kuberun_operator.actions import Cancel, Suspend
from kuberun_operator.conditions import set_condition
from kuberun_operator.policy.round import ACTIVE, Round


def shutdown(r: Round) -> None:
    """Stop: nothing new starts, running attempts finish. Terminate: running attempts are cancelled too."""
    mode = r.spec.shutdown
    if mode is None:
        return
    for record in r.status.tasks:
        if record.phase is TaskPhase.PENDING:
            cancel_record(r, record, f"not started: spec.shutdown={mode}")
        elif mode == "Terminate" and record.phase in ACTIVE:
            current = record.attempts[-1]
            if current.backend_ref is not None:
                r.act(Cancel(record.name, current.attempt, current.backend_ref))
            current.phase, current.finish_time = TaskPhase.CANCELLED, r.now
            current.reason, current.message = "Terminated", "cancelled by spec.shutdown=Terminate"
            cancel_record(r, record, current.message)


def keep_cancelling(r: Round) -> None:
    """Cancelled attempts the backend still reports alive are cancelled again until they are gone.

    Status says Cancelled as soon as cancelling is decided; if that call failed (a cluster
    unreachable), this keeps the intent alive across retries and operator restarts.
    """
    for record in r.status.tasks:
        for attempt in record.attempts:
            seen = r.observed.get((record.name, attempt.attempt))
            if (attempt.phase is TaskPhase.CANCELLED and attempt.backend_ref is not None and seen is not None
                    and seen.state in ("pending", "running", "suspended")):
                cancel = Cancel(record.name, attempt.attempt, attempt.backend_ref)
                if cancel not in r.decision.actions:
                    r.act(cancel)
                    r.requeue(10.0)


def cancel_record(r: Round, record: TaskStatus, message: str) -> None:
    record.phase, record.finish_time, record.next_retry_time = TaskPhase.CANCELLED, r.now, None
    record.reason, record.message = "Cancelled", message


def suspend(r: Round) -> None:
    """Running attempts follow ``spec.suspend`` where their backend can suspend and nobody else owns it."""
    want = bool(r.spec.suspend)
    for task in r.spec.tasks:
        record = r.record(task.name)
        if record.phase not in ACTIVE or not r.traits.of(task.executor.backend).suspendable:
            continue
        if task.name in r.traits.suspend_owners:
            continue  # e.g. Kueue owns suspend for queued Jobs; never fight it
        current = record.attempts[-1]
        seen = r.observed.get((task.name, current.attempt))
        if seen is not None and (seen.state == "suspended") != want and current.backend_ref is not None:
            r.act(Suspend(task.name, current.attempt, current.backend_ref, want))
    set_condition(r.status, "Suspended", want, "SpecSuspended" if want else "NotSuspended",
                  "spec.suspend is set: running Jobs are suspended, nothing new starts" if want else "",
                  r.now, r.generation)
