"""One reconcile's working state: the status being decided, the Decision, and what it reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from kuberun.resource import ExperimentPhase, ExperimentResource, ExperimentStatus, TaskPhase, TaskStatus
from kuberun_operator.actions import Action, Decision, Event, Observed
from kuberun_operator.traits import Traits

ACTIVE = (TaskPhase.SUBMITTED, TaskPhase.RUNNING, TaskPhase.SUSPENDED)


@dataclass(frozen=True)
class Limits:
    """The operator's settings that reconcile obeys."""

    max_backoff: int = 600        # seconds: cap of a task's exponential retry backoff
    local_enabled: bool = False   # whether the local executor may run here


class Round:
    """Built from (spec, status as read, observed, now, traits); every policy edits ``status`` here."""

    def __init__(self, exp: ExperimentResource, observed: Mapping[tuple[str, int], Observed], now: datetime,
                 traits: Traits, limits: Limits) -> None:
        self.exp, self.observed, self.now, self.traits, self.limits = exp, observed, now, traits, limits
        self.spec = exp.spec
        self.generation = exp.metadata.generation
        before = exp.status.model_copy(deep=True) if exp.status else None
        self.before = {t.name: t.phase for t in before.tasks} if before else {}
        self.before_phase: ExperimentPhase | None = before.phase if before else None
        self.status = before or ExperimentStatus(phase=ExperimentPhase.PENDING)
        self.decision = Decision(status=self.status)

    def record(self, name: str) -> TaskStatus:
        record = self.status.task(name)
        if record is None:  # ensure_task_records runs first: a missing record is a bug here
            raise KeyError(f"no status record for task {name!r}")
        return record

    def act(self, action: Action) -> None:
        self.decision.actions.append(action)

    def emit(self, type_: str, reason: str, message: str) -> None:
        self.decision.events.append(Event(type=type_, reason=reason, message=message))  # type: ignore[arg-type]

    def requeue(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        current = self.decision.requeue_after
        self.decision.requeue_after = seconds if current is None else min(current, seconds)


def ensure_task_records(r: Round) -> None:
    """Every task of the spec has a record in status, in spec order."""
    known = {t.name: t for t in r.status.tasks}
    r.status.tasks = [known.get(t.name) or TaskStatus(name=t.name, phase=TaskPhase.PENDING, attempt=0)
                      for t in r.spec.tasks]
