"""Status stays under its budget whatever the tasks and retries, dropping history before the present."""

from __future__ import annotations

from datetime import datetime, timezone

from kuberun.resource import (
    AttemptStatus,
    BackendRef,
    ExperimentPhase,
    ExperimentStatus,
    TaskPhase,
    TaskStatus,
)
from kuberun.resource.constants import MAX_ATTEMPTS, MAX_TASKS, STATUS_BUDGET
from kuberun_operator.policy.budget import compact, size_of

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _attempt(n: int, phase: TaskPhase) -> AttemptStatus:
    ref = BackendRef(backend="kubernetes", idempotency_key=f"0f8e2c1a-uid-t-{n}", id=f"exp-t-{n}",
                     uid="6b1f0a52-3c2d-4e8f-9a7b-1c2d3e4f5a6b")
    return AttemptStatus(attempt=n, phase=phase, backend_ref=ref, submit_time=T, start_time=T,
                         finish_time=T if phase.finished else None, exit_code=1 if phase is TaskPhase.FAILED else None,
                         reason="BackoffLimitExceeded" if phase is TaskPhase.FAILED else None, message="x" * 1000)


def _heavy(phase: TaskPhase) -> ExperimentStatus:
    """MAX_TASKS tasks, each with every attempt it may have: all failed but the last."""
    tasks = []
    for i in range(MAX_TASKS):
        attempts = [_attempt(n, TaskPhase.FAILED) for n in range(1, MAX_ATTEMPTS)] + [_attempt(MAX_ATTEMPTS, phase)]
        tasks.append(TaskStatus(name=f"task-{i:04d}", phase=phase, attempt=MAX_ATTEMPTS, start_time=T,
                                message="m" * 1000, config_sha256="a" * 64, attempts=attempts))
    return ExperimentStatus(phase=ExperimentPhase.RUNNING, tasks=tasks)


def test_a_status_under_budget_is_left_exactly_as_it_was():
    status = ExperimentStatus(phase=ExperimentPhase.RUNNING, tasks=[
        TaskStatus(name="a", phase=TaskPhase.RUNNING, attempt=2,
                   attempts=[_attempt(1, TaskPhase.FAILED), _attempt(2, TaskPhase.RUNNING)])])
    before = status.to_dict()
    assert compact(status) == size_of(status) and status.to_dict() == before


def test_the_largest_running_experiment_with_every_retry_fits_and_keeps_what_decisions_need():
    status = _heavy(TaskPhase.RUNNING)
    assert size_of(status) > 4 * STATUS_BUDGET  # the cliff this prevents: over etcd's 1.5 MiB
    assert compact(status) <= STATUS_BUDGET
    for task in status.tasks:
        current = task.attempts[-1]
        assert current.attempt == MAX_ATTEMPTS and current.phase is TaskPhase.RUNNING  # still observed, cancellable
        assert current.backend_ref is not None and current.backend_ref.uid is not None
        # retries are counted from attempts + failuresOmitted: the count is unchanged
        failed = sum(a.phase is TaskPhase.FAILED for a in task.attempts) + (task.failures_omitted or 0)
        assert failed == MAX_ATTEMPTS - 1
        assert len(task.attempts) + (task.attempts_omitted or 0) == MAX_ATTEMPTS


def test_a_finished_experiment_keeps_each_tasks_outcome_when_its_history_is_dropped():
    status = _heavy(TaskPhase.FAILED)
    assert compact(status) <= STATUS_BUDGET
    for task in status.tasks:
        assert task.phase is TaskPhase.FAILED and task.attempt == MAX_ATTEMPTS and task.start_time == T
        assert len(task.attempts) + (task.attempts_omitted or 0) == MAX_ATTEMPTS
    assert status.to_dict()["tasks"][0]["attemptsOmitted"] >= MAX_ATTEMPTS - 1


def test_history_goes_before_the_present_older_attempts_of_finished_tasks_first():
    status = _heavy(TaskPhase.RUNNING)
    done = _heavy(TaskPhase.SUCCEEDED).tasks[:100]
    status.tasks[:100] = done
    budget = size_of(status) - 50_000  # over by a little: the first tier is enough
    compact(status, budget)
    assert all(len(t.attempts) == 1 for t in status.tasks[:100])
    assert all(len(t.attempts) == MAX_ATTEMPTS for t in status.tasks[100:])  # running tasks untouched


def _held(status: ExperimentStatus, tasks: int) -> set[tuple[str, int]]:
    return {(t.name, a.attempt) for t in status.tasks[:tasks] for a in t.attempts if a.phase.finished}


def test_attempts_whose_archive_row_is_not_written_are_kept_whole_past_the_budget():
    """A held attempt (its archive row not confirmed) is neither dropped nor has its message cut: the
    status is its only durable copy. The rest is compacted as usual, and the status may end over budget."""
    status = _heavy(TaskPhase.FAILED)
    held = _held(status, 40)  # 40 tasks x 11 attempts x ~1.3 KiB: more than the budget on their own
    before = {(t.name, a.attempt): a.to_dict() for t in status.tasks[:40] for a in t.attempts}
    size = compact(status, held=held)
    assert STATUS_BUDGET < size == size_of(status)
    assert {(t.name, a.attempt): a.to_dict() for t in status.tasks[:40] for a in t.attempts} == before
    assert all(not t.attempts and t.attempts_omitted == MAX_ATTEMPTS for t in status.tasks[40:])


def test_past_the_ceiling_held_attempts_are_compacted_too_so_status_writes_still_fit():
    status = _heavy(TaskPhase.FAILED)
    held = _held(status, MAX_TASKS)
    size = compact(status, held=held, ceiling=STATUS_BUDGET * 2)
    assert STATUS_BUDGET < size <= STATUS_BUDGET * 2
    assert sum(len(t.attempts) for t in status.tasks) < MAX_TASKS * MAX_ATTEMPTS
    for task in status.tasks:  # counts stay right, as without holds
        assert len(task.attempts) + (task.attempts_omitted or 0) == MAX_ATTEMPTS
