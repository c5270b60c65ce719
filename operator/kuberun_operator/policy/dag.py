"""What may start now: the DAG-readiness rule (``kuberun.resource.graph.ready_tasks``), retry
backoff, the local executor switch, early submission behind running parents (``policy/early.py``)
and the two-phase submit for work outside the cluster."""

from __future__ import annotations

from kuberun.resource import AttemptStatus, BackendRef, TaskPhase, TaskSpec, TaskStatus
from kuberun.resource.graph import ready_tasks
from kuberun_operator.actions import Parent, Submit
from kuberun_operator.identity import idempotency_key as idempotency_key  # re-exported
from kuberun_operator.policy.early import queue_behind
from kuberun_operator.policy.round import Round


def start_ready_tasks(r: Round) -> None:
    if r.spec.shutdown or r.spec.suspend:
        return
    while True:
        readiness = ready_tasks(r.spec.tasks, {t.name: t.phase for t in r.status.tasks})
        for name, bad in readiness.blocked.items():
            record = r.record(name)
            record.phase, record.finish_time = TaskPhase.SKIPPED, r.now
            cancelled = r.record(bad).phase is TaskPhase.CANCELLED
            record.reason = "DependencyFailed"
            record.message = f"dependency {bad!r} {'was cancelled' if cancelled else 'did not succeed'}"
        refused = False
        for name in readiness.ready:
            task, record = r.spec.task(name), r.record(name)
            if record.next_retry_time and record.next_retry_time > r.now:
                r.requeue((record.next_retry_time - r.now).total_seconds())
                continue
            if task.executor.backend == "local" and not r.limits.local_enabled:
                record.phase, record.finish_time = TaskPhase.FAILED, r.now
                record.reason = "LocalExecutorDisabled"
                record.message = "the local executor runs user code inside the operator and is off here; use kubernetes"
                refused = True
                continue
            new_attempt(r, task, record)
        if not refused:
            break  # else: the refused tasks' dependents are skipped in this same reconcile
    start_early(r)


def start_early(r: Round) -> None:
    """Pending tasks whose running parents share their backend's queue are submitted behind them (policy/early.py)."""
    if not r.traits.dependency_scopes:
        return
    for task in r.spec.tasks:
        record = r.record(task.name)
        if record.phase is not TaskPhase.PENDING or not task.depends_on:
            continue
        if record.next_retry_time and record.next_retry_time > r.now:
            continue  # its retry's backoff: the ready path above requeued for it
        after = queue_behind(r, task)
        if after:
            new_attempt(r, task, record, after)


def new_attempt(r: Round, task: TaskSpec, record: TaskStatus, after: tuple[Parent, ...] = ()) -> None:
    """Record the next attempt under its idempotency key, and submit it — or, for a backend whose
    work outlives a deleted Experiment, submit only once the key is stored (the next reconcile)."""
    number = (record.attempts[-1].attempt + 1) if record.attempts else 1
    key = idempotency_key(r.exp.metadata.uid or "", task.name, number)
    ref = BackendRef(backend=task.executor.backend, idempotency_key=key)  # type: ignore[arg-type]
    record.attempts.append(AttemptStatus(attempt=number, phase=TaskPhase.SUBMITTED, backend_ref=ref, submit_time=r.now))
    record.attempt, record.phase, record.next_retry_time = number, TaskPhase.SUBMITTED, None
    record.exit_code = record.reason = record.message = record.finish_time = None
    r.status.start_time = r.status.start_time or r.now
    if r.traits.of(task.executor.backend).record_before_submit:
        # Phase one: this reconcile's status write records the key; the next reconcile finds the
        # attempt recorded and unseen and submits it (observe.observe_task). A crash in between
        # finds the key, never an unrecorded job.
        r.requeue(0.0)
        return
    r.act(Submit(task.name, number, ref, after))
