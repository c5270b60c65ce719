"""Early submission: a task whose parents all run on the same queueing backend waits in *its* queue.

Why: a Slurm task that depends on other Slurm tasks of the experiment would otherwise reach the
cluster only after the operator saw every parent succeed — a poll interval plus a scheduling
cycle later, and at the back of the queue. Slurm can hold the job itself
(``--dependency=afterok:<parent job ids>``) and start it the moment the parents complete. So when
every unfinished parent is an active attempt in the same *dependency scope* (one Slurm cluster
and login, declared by the backend as data in ``traits.dependency_scopes``) with its job id
recorded, and that attempt is its last (no retry would replace the job the dependent waits
for), the dependent is submitted now, with the parents' ids on its ``Submit.after``.

When a parent then fails (or is skipped or cancelled), Slurm would leave the dependent pending
forever (``DependencyNeverSatisfied``): ``drop_orphans`` cancels it and records the task Skipped,
reason ``DependencyFailed``, as if it had never been submitted. ``spec.shutdown`` treats a job
still queued behind its parents as not started: it is cancelled under ``Stop`` too.

Pure, like every policy: it reads the round and appends actions.
"""

from __future__ import annotations

from kuberun.resource import TaskPhase, TaskSpec
from kuberun.resource.graph import BAD_DEPENDENCY
from kuberun_operator.actions import Cancel, Parent
from kuberun_operator.policy.round import ACTIVE, Round

DEPENDENCY_FAILED = "DependencyFailed"


def queue_behind(r: Round, task: TaskSpec) -> tuple[Parent, ...] | None:
    """The parent attempts ``task`` may queue behind now, ``()`` when every parent succeeded, or
    None when it must wait for its parents the ordinary way."""
    scopes = r.traits.dependency_scopes
    after: list[Parent] = []
    for dep in task.depends_on:
        record = r.record(dep)
        if record.phase is TaskPhase.SUCCEEDED:
            continue
        scope = scopes.get(task.name)
        if scope is None or scopes.get(dep) != scope or record.phase not in ACTIVE or not record.attempts:
            return None
        current = record.attempts[-1]
        if current.backend_ref is None or not current.backend_ref.id or _retries_left(r, dep):
            return None
        after.append(Parent(dep, current.attempt, current.backend_ref.id))
    return tuple(after)


def _retries_left(r: Round, name: str) -> bool:
    record = r.record(name)
    failures = sum(a.phase is TaskPhase.FAILED for a in record.attempts) + (record.failures_omitted or 0)
    return failures < r.spec.task(name).retries.limit


def queued_early(r: Round, task: TaskSpec) -> bool:
    """Whether ``task``'s current attempt waits at its backend for parents that have not all succeeded."""
    record = r.record(task.name)
    return (record.phase is TaskPhase.SUBMITTED and bool(record.attempts)
            and any(r.record(dep).phase is not TaskPhase.SUCCEEDED for dep in task.depends_on))


def drop_orphans(r: Round) -> None:
    """Cancel attempts queued behind a parent that can no longer succeed (or under spec.shutdown).

    Repeats until nothing changes, so a whole queued chain (a -> b -> c, a failed) goes in one round.
    """
    changed = True
    while changed:
        changed = False
        for task in r.spec.tasks:
            if not queued_early(r, task):
                continue
            bad = next((d for d in task.depends_on if r.record(d).phase in BAD_DEPENDENCY), None)
            if bad is not None:
                what = "was cancelled" if r.record(bad).phase is TaskPhase.CANCELLED else "did not succeed"
                _drop(r, task, DEPENDENCY_FAILED, f"dependency {bad!r} {what}; its queued job was cancelled")
                changed = True
            elif r.spec.shutdown:
                _drop(r, task, "Cancelled", f"not started: spec.shutdown={r.spec.shutdown}")
                changed = True


def _drop(r: Round, task: TaskSpec, reason: str, message: str) -> None:
    record = r.record(task.name)
    current = record.attempts[-1]
    if current.backend_ref is not None:
        r.act(Cancel(task.name, current.attempt, current.backend_ref))
    current.phase, current.finish_time = TaskPhase.CANCELLED, r.now
    current.reason, current.message = reason, message
    record.phase = TaskPhase.SKIPPED if reason == DEPENDENCY_FAILED else TaskPhase.CANCELLED
    record.finish_time, record.next_retry_time = r.now, None
    record.reason, record.message = reason, message
    r.emit("Normal", reason, f"task {task.name!r}: {message}")
