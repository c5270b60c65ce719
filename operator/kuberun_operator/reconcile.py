"""The decision at the heart of the operator: (spec, status, observed children, now) -> Decision.

Pure and level-triggered: it reads the whole state each time and depends on no event history,
so running it twice, or after a crash between any two steps, decides the same thing. It never
performs I/O; the runtime performs the returned actions and writes the returned status.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from kuberun.resource import (
    AttemptStatus,
    BackendRef,
    ExperimentPhase,
    ExperimentResource,
    ExperimentStatus,
    TaskPhase,
    TaskSpec,
    TaskStatus,
)
from kuberun_operator.actions import Cancel, Decision, DeleteExperiment, Event, Observed, Submit, Suspend
from kuberun_operator.conditions import progress, roll_up, set_condition

ACTIVE = (TaskPhase.SUBMITTED, TaskPhase.RUNNING)
# Attempt failures a retry cannot fix (the image cannot be pulled, a referenced Secret is missing).
UNRETRYABLE = frozenset({"ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"})
_BAD_DEPENDENCY = (TaskPhase.FAILED, TaskPhase.SKIPPED, TaskPhase.CANCELLED)


def idempotency_key(uid: str, task: str, attempt: int) -> str:
    return f"{uid}-{task}-{attempt}"


def backoff(task: TaskSpec, failures: int, cap: int) -> float:
    """Seconds before the next attempt: backoffSeconds doubled per failure, capped."""
    return float(min(task.retries.backoff_seconds * 2 ** max(failures - 1, 0), cap))


class _Reconcile:
    """One reconcile's working state; `run()` is the whole decision."""

    def __init__(self, exp: ExperimentResource, observed: Mapping[tuple[str, int], Observed], now: datetime,
                 max_backoff: int, local_enabled: bool) -> None:
        self.exp, self.observed, self.now = exp, observed, now
        self.max_backoff, self.local_enabled = max_backoff, local_enabled
        self.spec = exp.spec
        self.generation = exp.metadata.generation
        before = exp.status.model_copy(deep=True) if exp.status else None
        self.before = {t.name: t.phase for t in before.tasks} if before else {}
        self.before_phase = before.phase if before else None
        self.status = before or ExperimentStatus(phase=ExperimentPhase.PENDING)
        self.decision = Decision(status=self.status)

    def run(self) -> Decision:
        self._ensure_task_records()
        if self.before_phase is None or not self.before_phase.finished:
            for task in self.spec.tasks:
                self._observe(task, self._record(task.name))
            self._shutdown()
            self._suspend()
            self._start_ready_tasks()
        self._keep_cancelling()
        self._finish()
        return self.decision

    # -- bookkeeping ------------------------------------------------------------------------

    def _record(self, name: str) -> TaskStatus:
        record = self.status.task(name)
        assert record is not None
        return record

    def _ensure_task_records(self) -> None:
        known = {t.name: t for t in self.status.tasks}
        self.status.tasks = [known.get(t.name) or TaskStatus(name=t.name, phase=TaskPhase.PENDING, attempt=0)
                             for t in self.spec.tasks]

    def _emit(self, type_: str, reason: str, message: str) -> None:
        self.decision.events.append(Event(type=type_, reason=reason, message=message))  # type: ignore[arg-type]

    def _requeue(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        current = self.decision.requeue_after
        self.decision.requeue_after = seconds if current is None else min(current, seconds)

    # -- observation ----------------------------------------------------------------------------

    def _observe(self, task: TaskSpec, record: TaskStatus) -> None:
        if not record.attempts or record.phase not in ACTIVE:
            return
        current = record.attempts[-1]
        seen = self.observed.get((task.name, current.attempt))
        if seen is None:
            # Recorded but not visible at the backend: (re)submit. Submission is idempotent
            # under the attempt's key, so a Job created just before a crash is found, not doubled.
            if current.backend_ref is not None:
                self.decision.actions.append(Submit(task.name, current.attempt, current.backend_ref))
            return
        if current.backend_ref is not None and seen.backend_id and current.backend_ref.id != seen.backend_id:
            current.backend_ref.id = seen.backend_id  # e.g. a launch request id becomes the job id
        current.log_ref = seen.log_ref or current.log_ref
        if seen.start_time and not current.start_time:
            current.start_time = seen.start_time
        if seen.state == "running":
            current.phase = TaskPhase.RUNNING
        elif seen.state in ("succeeded", "failed"):
            self._attempt_finished(task, record, current, seen)
        self._sync_task(record, current)

    def _attempt_finished(self, task: TaskSpec, record: TaskStatus, current: AttemptStatus, seen: Observed) -> None:
        ok = seen.state == "succeeded"
        current.phase = TaskPhase.SUCCEEDED if ok else TaskPhase.FAILED
        current.finish_time = seen.finish_time or self.now
        current.exit_code = seen.exit_code if seen.exit_code is not None else (0 if ok else None)
        current.reason = seen.reason or ("Completed" if ok else "Failed")
        current.message = (seen.message or None) and seen.message[:1024]
        if ok:
            return
        if current.reason in UNRETRYABLE:
            # The Job still exists, stuck; no retry can fix its cause (the user must change the spec).
            if current.backend_ref is not None:
                self.decision.actions.append(Cancel(task.name, current.attempt, current.backend_ref))
            return
        failures = sum(a.phase is TaskPhase.FAILED for a in record.attempts)
        if failures <= task.retries.limit and not self.spec.shutdown:
            delay = backoff(task, failures, self.max_backoff)
            record.phase = TaskPhase.PENDING
            record.next_retry_time = current.finish_time + timedelta(seconds=delay)
            self._emit("Warning", "TaskRetrying",
                       f"task {task.name!r} attempt {current.attempt} failed ({current.reason}); retry {failures}/"
                       f"{task.retries.limit} in {delay:.0f}s")

    def _sync_task(self, record: TaskStatus, current: AttemptStatus) -> None:
        """The task's summary fields follow its latest attempt."""
        record.attempt = current.attempt
        record.start_time = record.start_time or current.start_time
        record.exit_code, record.reason, record.message = current.exit_code, current.reason, current.message
        if record.phase is TaskPhase.PENDING and record.next_retry_time:
            return  # waiting to retry
        record.phase = current.phase
        if current.phase.finished:
            record.finish_time = current.finish_time

    # -- lifecycle ------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        mode = self.spec.shutdown
        if mode is None:
            return
        for record in self.status.tasks:
            if record.phase is TaskPhase.PENDING:
                self._cancel_record(record, f"not started: spec.shutdown={mode}")
            elif mode == "Terminate" and record.phase in ACTIVE:
                current = record.attempts[-1]
                if current.backend_ref is not None:
                    self.decision.actions.append(Cancel(record.name, current.attempt, current.backend_ref))
                current.phase, current.finish_time = TaskPhase.CANCELLED, self.now
                current.reason, current.message = "Terminated", "cancelled by spec.shutdown=Terminate"
                self._cancel_record(record, current.message)

    def _keep_cancelling(self) -> None:
        """Cancelled attempts the backend still reports alive are cancelled again until they are gone.

        Status says Cancelled as soon as cancelling is decided; if that call failed (a cluster
        unreachable), this keeps the intent alive across retries and operator restarts.
        """
        for record in self.status.tasks:
            for attempt in record.attempts:
                seen = self.observed.get((record.name, attempt.attempt))
                if (attempt.phase is TaskPhase.CANCELLED and attempt.backend_ref is not None and seen is not None
                        and seen.state in ("pending", "running", "suspended")):
                    cancel = Cancel(record.name, attempt.attempt, attempt.backend_ref)
                    if cancel not in self.decision.actions:
                        self.decision.actions.append(cancel)
                        self._requeue(10.0)

    def _cancel_record(self, record: TaskStatus, message: str) -> None:
        record.phase, record.finish_time, record.next_retry_time = TaskPhase.CANCELLED, self.now, None
        record.reason, record.message = "Cancelled", message

    def _suspend(self) -> None:
        want = bool(self.spec.suspend)
        for task in self.spec.tasks:
            record = self._record(task.name)
            if record.phase not in ACTIVE or task.executor.backend != "kubernetes":
                continue
            if task.executor.kubernetes and task.executor.kubernetes.queue:
                continue  # Kueue owns suspend for queued Jobs; never fight it
            current = record.attempts[-1]
            seen = self.observed.get((task.name, current.attempt))
            if seen is not None and (seen.state == "suspended") != want and current.backend_ref is not None:
                self.decision.actions.append(Suspend(task.name, current.attempt, current.backend_ref, want))
        set_condition(self.status, "Suspended", want, "SpecSuspended" if want else "NotSuspended",
                      "spec.suspend is set: running Jobs are suspended, nothing new starts" if want else "",
                      self.now, self.generation)

    def _start_ready_tasks(self) -> None:
        if self.spec.shutdown or self.spec.suspend:
            return
        for task in self.spec.tasks:
            record = self._record(task.name)
            if record.phase is not TaskPhase.PENDING:
                continue
            deps = [self._record(d).phase for d in task.depends_on]
            if any(d in _BAD_DEPENDENCY for d in deps):
                bad = next(d for d in task.depends_on if self._record(d).phase in _BAD_DEPENDENCY)
                record.phase, record.finish_time = TaskPhase.SKIPPED, self.now
                record.reason, record.message = "DependencyFailed", f"dependency {bad!r} did not succeed"
                continue
            if not all(d is TaskPhase.SUCCEEDED for d in deps):
                continue
            if record.next_retry_time and record.next_retry_time > self.now:
                self._requeue((record.next_retry_time - self.now).total_seconds())
                continue
            if task.executor.backend == "local" and not self.local_enabled:
                record.phase, record.finish_time = TaskPhase.FAILED, self.now
                record.reason = "LocalExecutorDisabled"
                record.message = "the local executor runs user code inside the operator and is off here; use kubernetes"
                continue
            self._new_attempt(task, record)

    def _new_attempt(self, task: TaskSpec, record: TaskStatus) -> None:
        number = (record.attempts[-1].attempt + 1) if record.attempts else 1
        ref = BackendRef(backend=task.executor.backend, idempotency_key=idempotency_key(self.exp.metadata.uid or "", task.name, number))  # type: ignore[arg-type]
        attempt = AttemptStatus(attempt=number, phase=TaskPhase.SUBMITTED, backend_ref=ref, submit_time=self.now)
        record.attempts.append(attempt)
        record.attempt, record.phase, record.next_retry_time = number, TaskPhase.SUBMITTED, None
        record.exit_code = record.reason = record.message = record.finish_time = None
        self.decision.actions.append(Submit(task.name, number, ref))
        self.status.start_time = self.status.start_time or self.now

    # -- roll-up ----------------------------------------------------------------------------------

    def _finish(self) -> None:
        status = self.status
        phase, reason, message = roll_up(status, self.spec.shutdown)
        status.phase, status.progress, status.observed_generation = phase, progress(status), self.generation
        for type_ in ("Running", "Succeeded", "Failed", "Cancelled"):
            is_it = phase.value == type_
            set_condition(status, type_, is_it, reason if is_it else f"Not{type_}", message if is_it else "",
                          self.now, self.generation)
        if phase.finished and status.completion_time is None:
            status.completion_time = self.now
        self._transition_events(phase, message)
        ttl = self.spec.ttl_seconds_after_finished
        if phase.finished and ttl is not None and status.completion_time is not None:
            remaining = (status.completion_time + timedelta(seconds=ttl) - self.now).total_seconds()
            if remaining <= 0:
                self.decision.actions.append(DeleteExperiment())
            else:
                self._requeue(remaining)

    def _transition_events(self, phase: ExperimentPhase, message: str) -> None:
        for record in self.status.tasks:
            # Submitted is implied by Running or the outcome; Pending is the start or a retry (own event).
            if self.before.get(record.name) != record.phase and record.phase not in (TaskPhase.PENDING, TaskPhase.SUBMITTED):
                warn = record.phase in (TaskPhase.FAILED, TaskPhase.SKIPPED, TaskPhase.CANCELLED)
                detail = f" ({record.reason}: {record.message})" if warn and record.message else ""
                self._emit("Warning" if warn else "Normal", f"Task{record.phase.value}",
                           f"task {record.name!r} attempt {record.attempt} {record.phase.value.lower()}{detail}")
        if phase != self.before_phase and phase.finished:
            warn = phase in (ExperimentPhase.FAILED, ExperimentPhase.CANCELLED)
            self._emit("Warning" if warn else "Normal", f"Experiment{phase.value}", message)


def reconcile(
    exp: ExperimentResource,
    observed: Mapping[tuple[str, int], Observed],
    now: datetime,
    *,
    max_backoff: int = 600,
    local_enabled: bool = False,
) -> Decision:
    """Decide the next actions and the new status of one Experiment. Pure; see the module doc."""
    return _Reconcile(exp, observed, now, max_backoff, local_enabled).run()
