"""metav1.Condition bookkeeping and the experiment-level roll-up of task phases."""

from __future__ import annotations

from datetime import datetime

from kuberun.resource import Condition, ExperimentPhase, ExperimentStatus, TaskPhase

CONDITION_TYPES = ("Running", "Succeeded", "Failed", "Cancelled", "Suspended")


def set_condition(
    status: ExperimentStatus, type_: str, value: bool, reason: str, message: str, now: datetime, generation: int | None
) -> None:
    """Merge a condition by type; its lastTransitionTime moves only when its status flips."""
    text = "True" if value else "False"
    existing = status.condition(type_)
    if existing is None:
        status.conditions.append(Condition(type=type_, status=text, reason=reason, message=message,
                                           last_transition_time=now, observed_generation=generation))
        return
    if existing.status != text:
        existing.last_transition_time = now
    existing.status, existing.reason, existing.message = text, reason, message
    existing.observed_generation = generation


def roll_up(status: ExperimentStatus, shutdown: str | None) -> tuple[ExperimentPhase, str, str]:
    """The experiment's phase, with a reason and message a user can act on."""
    phases = [t.phase for t in status.tasks]
    done = sum(p is TaskPhase.SUCCEEDED for p in phases)
    if not all(p.finished for p in phases):
        started = any(p is not TaskPhase.PENDING for p in phases)
        if started:
            return ExperimentPhase.RUNNING, "TasksRunning", f"{done}/{len(phases)} tasks succeeded"
        return ExperimentPhase.PENDING, "TasksPending", "no task has started yet"
    failed = [t.name for t in status.tasks if t.phase is TaskPhase.FAILED]
    if failed:
        first = status.task(failed[0])
        why = f": {first.reason}" if first and first.reason else ""
        return ExperimentPhase.FAILED, "TaskFailed", f"task {failed[0]!r} failed{why}" + (
            f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
    if any(p is TaskPhase.CANCELLED for p in phases):
        if shutdown:
            return ExperimentPhase.CANCELLED, f"Shutdown{shutdown}", f"cancelled by spec.shutdown={shutdown}"
        cancelled = [t for t in status.tasks if t.phase is TaskPhase.CANCELLED]  # by spec.cancelTasks
        return ExperimentPhase.CANCELLED, "TasksCancelled", f"task {cancelled[0].name!r} {cancelled[0].message or 'cancelled'}" + (
            f" (and {len(cancelled) - 1} more)" if len(cancelled) > 1 else "")
    return ExperimentPhase.SUCCEEDED, "AllTasksSucceeded", f"{done}/{len(phases)} tasks succeeded"


def progress(status: ExperimentStatus) -> str:
    done = sum(t.phase is TaskPhase.SUCCEEDED for t in status.tasks)
    return f"{done}/{len(status.tasks)}"
