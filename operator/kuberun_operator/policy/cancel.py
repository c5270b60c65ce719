"""``spec.cancelTasks``: cancel one task while the others keep running (NeMo Run's ``exp.cancel(task)``).

Level-triggered like the rest of reconcile: the request lives in the spec, so an operator that
restarts between deciding and cancelling reads it again, and ``keep_cancelling`` repeats a cancel
the backend did not take. A task that already finished stays as it finished (a request never
rewrites what was recorded); a pending one (waiting for its parents or a retry's backoff) never
starts; an active one has its running attempt cancelled. Its dependents are then skipped
(``DependencyFailed``) by the ordinary readiness rule, and jobs queued behind it at their backend
(Slurm ``afterok``) by ``policy/early.drop_orphans``. Runs after observation, so an attempt that
ended before the request was read keeps its real outcome.
"""

from __future__ import annotations

from kuberun.resource import TaskPhase
from kuberun.resource.spec import TaskCancel
from kuberun_operator.actions import Cancel
from kuberun_operator.conditions import set_condition
from kuberun_operator.policy.round import ACTIVE, Round

CONDITION = "CancelTasksValid"


def requester(request: TaskCancel) -> str:
    """Who asked, for reasons and Events: the admission policy holds ``by`` to the authenticated user."""
    return request.by or "a request that names nobody"


def cancel_tasks(r: Round) -> None:
    """Cancel every task named in ``spec.cancelTasks`` that has not finished."""
    requests = r.spec.cancel_tasks or []
    names = {t.name for t in r.spec.tasks}
    unknown = [c.task for c in requests if c.task not in names]
    _report_unknown(r, unknown)
    for request in requests:
        if request.task not in names:
            continue
        record = r.record(request.task)
        if record.phase.finished:
            continue
        message = f"cancelled by {requester(request)} (spec.cancelTasks)"
        if record.phase in ACTIVE and record.attempts:
            current = record.attempts[-1]
            if current.backend_ref is not None:
                r.act(Cancel(record.name, current.attempt, current.backend_ref))
            current.phase, current.finish_time = TaskPhase.CANCELLED, r.now
            current.reason, current.message = "Cancelled", message
        record.phase, record.finish_time, record.next_retry_time = TaskPhase.CANCELLED, r.now, None
        record.reason, record.message = "Cancelled", message  # finish.py's TaskCancelled Event says it


def _report_unknown(r: Round, unknown: list[str]) -> None:
    """A request naming no task of the spec is bad input: said once as a condition and an Event."""
    before = r.status.condition(CONDITION)
    if not unknown:
        if before is not None and before.status == "False":
            set_condition(r.status, CONDITION, True, "AllTasksKnown", "", r.now, r.generation)
        return
    message = f"spec.cancelTasks names no task of this experiment: {', '.join(sorted(unknown))}"
    if before is None or before.message != message:
        r.emit("Warning", "UnknownTask", message)
    set_condition(r.status, CONDITION, False, "UnknownTask", message, r.now, r.generation)
