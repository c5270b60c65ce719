"""How the results of performed actions are folded back into the status: pure, like reconcile.

The controller performs a Decision's actions and collects one ``Outcome`` per action; nothing
else about them is decided there. Folding is deterministic in (decision, outcomes, now):

- ``Submitted``: the attempt records the backend's id, cluster and log location;
- a permanent ``BackendError`` of a Submit, or any action on a backend this operator lacks:
  the attempt and its task fail with the error's reason (no retry can fix it). The experiment's
  phase, conditions and dependents follow in the next reconcile, which this status write
  triggers, so the roll-up stays in one place;
- any other ``BackendError``: a Warning Event, and a look again within 10 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from kuberun.resource import AttemptStatus, ExperimentStatus, TaskPhase, TaskStatus
from kuberun.resource.constants import MAX_MESSAGE
from kuberun_operator.actions import Action, Decision, DeleteExperiment, Event, Submit
from kuberun_operator.backends.base import BackendError, BackendNotConfigured, Submitted

RETRY_AFTER_ERROR = 10.0  # seconds until a reconcile after a transient backend error


@dataclass(frozen=True)
class Done:
    """An action that was carried out and returned nothing to record (cancel, suspend, delete)."""


Outcome = Submitted | BackendError | Done


def fold_outcomes(decision: Decision, outcomes: Sequence[tuple[Action, Outcome]], now: datetime) -> Decision:
    """A new Decision: ``decision`` with every outcome folded into its status, events and requeue."""
    if not outcomes:
        return decision
    folded = replace(decision, status=decision.status.model_copy(deep=True), actions=list(decision.actions),
                     events=list(decision.events))
    for action, outcome in outcomes:
        if isinstance(action, DeleteExperiment) or isinstance(outcome, Done):
            continue
        if isinstance(outcome, BackendError) and not (isinstance(outcome, BackendNotConfigured)
                                                      or (outcome.permanent and isinstance(action, Submit))):
            folded.events.append(Event("Warning", outcome.reason, outcome.message))
            folded.requeue_after = RETRY_AFTER_ERROR if folded.requeue_after is None else min(folded.requeue_after,
                                                                                              RETRY_AFTER_ERROR)
            continue
        folded.events.extend(fold_submission(folded.status, action.task, action.attempt, outcome, now))
    return folded


def fold_submission(status: ExperimentStatus, task: str, attempt: int, result: Submitted | BackendError,
                    now: datetime) -> list[Event]:
    """Record one submission's result on attempt ``attempt`` of ``task`` in ``status``; the Events it calls for.

    ``result`` is what the backend returned, or the error that fails the attempt for good.
    """
    record = status.task(task)
    found = next((a for a in record.attempts if a.attempt == attempt), None) if record is not None else None
    if record is None or found is None:
        return []  # the attempt is not in this status (a stale action): nothing to record
    if isinstance(result, Submitted):
        if found.backend_ref is not None:
            found.backend_ref.id = result.id
            found.backend_ref.cluster = result.cluster or found.backend_ref.cluster
            found.backend_ref.uid = found.backend_ref.uid or result.uid
        found.log_ref = found.log_ref or result.log_ref
        return []
    return [_fail_attempt(record, found, result.reason, result.message, now)]


def _fail_attempt(record: TaskStatus, attempt: AttemptStatus, reason: str, message: str, now: datetime) -> Event:
    """A submission refused for good: the attempt and its task fail with the backend's reason."""
    attempt.phase, attempt.finish_time, attempt.reason, attempt.message = TaskPhase.FAILED, now, reason, message[:MAX_MESSAGE]
    record.phase, record.finish_time, record.reason, record.message = TaskPhase.FAILED, now, reason, message[:MAX_MESSAGE]
    return Event("Warning", reason, f"task {record.name!r}: {message}"[:MAX_MESSAGE])
