"""The pure reconcile: DAG order, retries, failure propagation, lifecycle, idempotence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kuberun.resource import ExperimentResource, TaskPhase
from kuberun_operator.actions import Cancel, DeleteExperiment, Observed, Submit, Suspend
from kuberun_operator.reconcile import reconcile

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Exp:
    """Fluent builder: Exp().task("a").task("b", after=["a"], retries=1).obj()"""

    def __init__(self, name: str = "exp") -> None:
        self._tasks: list[dict] = []
        self._spec: dict = {}
        self._name = name

    def task(self, name: str, after: list[str] | None = None, retries: int = 0, backend: str = "kubernetes",
             **executor: object) -> Exp:
        self._tasks.append({"name": name, "script": {"command": ["true"]}, "dependsOn": after or [],
                            "retries": {"limit": retries, "backoffSeconds": 10}, "executor": {backend: executor}})
        return self

    def spec(self, **fields: object) -> Exp:
        self._spec.update(fields)
        return self

    def obj(self) -> ExperimentResource:
        return ExperimentResource.model_validate({
            "metadata": {"name": self._name, "namespace": "ns", "uid": "uid-1", "generation": 1},
            "spec": {"title": "t", "tasks": self._tasks, **self._spec},
        })


def step(exp: ExperimentResource, observed: dict | None = None, now: datetime = T0, **kw):
    decision = reconcile(exp, observed or {}, now, **kw)
    exp.status = decision.status
    return decision


def submits(decision) -> list[tuple[str, int]]:
    return [(a.task, a.attempt) for a in decision.actions if isinstance(a, Submit)]


def test_independent_tasks_start_together_and_dependents_wait():
    exp = Exp().task("a").task("b").task("c", after=["a", "b"]).obj()
    first = step(exp)
    assert submits(first) == [("a", 1), ("b", 1)]
    assert exp.status.phase.value == "Running" and exp.status.progress == "0/3"
    assert first.actions[0].ref.idempotency_key == "uid-1-a-1"
    step(exp, {("a", 1): Observed("succeeded"), ("b", 1): Observed("running")})
    assert exp.status.task("c").phase is TaskPhase.PENDING
    third = step(exp, {("a", 1): Observed("succeeded"), ("b", 1): Observed("succeeded", exit_code=0)})
    assert submits(third) == [("c", 1)]
    step(exp, {("c", 1): Observed("succeeded")})
    assert exp.status.phase.value == "Succeeded" and exp.status.progress == "3/3"
    assert exp.status.completion_time == T0
    assert exp.status.condition("Succeeded").status == "True"


def test_reconciling_again_without_news_changes_nothing_and_submits_nothing_new():
    exp = Exp().task("a").obj()
    step(exp)
    running = {("a", 1): Observed("running", start_time=T0)}
    step(exp, running)
    before = exp.status.to_dict()
    again = step(exp, running, now=T0 + timedelta(seconds=30))
    assert again.actions == [] and again.events == []
    assert exp.status.to_dict() == before


def test_recorded_attempt_missing_at_backend_is_resubmitted_under_the_same_key():
    exp = Exp().task("a").obj()
    key = step(exp).actions[0].ref.idempotency_key
    again = step(exp)  # crash before the Job was created: nothing observed
    assert submits(again) == [("a", 1)] and again.actions[0].ref.idempotency_key == key
    assert len(exp.status.task("a").attempts) == 1


def test_failed_attempt_is_retried_after_exponential_backoff():
    exp = Exp().task("a", retries=2).obj()
    step(exp)
    d = step(exp, {("a", 1): Observed("failed", exit_code=3, finish_time=T0)})
    assert submits(d) == [] and d.requeue_after == 10
    assert exp.status.task("a").phase is TaskPhase.PENDING
    assert submits(step(exp, {}, now=T0 + timedelta(seconds=5))) == []
    assert submits(step(exp, {}, now=T0 + timedelta(seconds=10))) == [("a", 2)]
    t2 = T0 + timedelta(seconds=20)
    d = step(exp, {("a", 2): Observed("failed", exit_code=3, finish_time=t2)}, now=t2)
    assert d.requeue_after == 20  # doubled
    step(exp, {}, now=t2 + timedelta(seconds=20))
    step(exp, {("a", 3): Observed("failed", exit_code=4)}, now=t2 + timedelta(seconds=30))
    record = exp.status.task("a")
    assert record.phase is TaskPhase.FAILED and record.exit_code == 4
    assert [a.attempt for a in record.attempts] == [1, 2, 3]
    assert exp.status.phase.value == "Failed"


def test_backoff_is_capped():
    exp = Exp().task("a", retries=5).obj()
    step(exp)
    d = step(exp, {("a", 1): Observed("failed", finish_time=T0)}, max_backoff=5)
    assert d.requeue_after == 5


def test_permanent_failure_skips_dependents_with_reason():
    exp = Exp().task("a").task("b", after=["a"]).task("c", after=["b"]).task("d").obj()
    step(exp)
    step(exp, {("a", 1): Observed("failed", exit_code=1, reason="BackoffLimitExceeded"), ("d", 1): Observed("running")})
    assert exp.status.task("b").phase is TaskPhase.SKIPPED and exp.status.task("b").reason == "DependencyFailed"
    assert exp.status.task("c").phase is TaskPhase.SKIPPED
    assert exp.status.phase.value == "Running"  # d still runs
    step(exp, {("d", 1): Observed("succeeded")})
    assert exp.status.phase.value == "Failed"
    failed = exp.status.condition("Failed")
    assert failed.status == "True" and "task 'a' failed: BackoffLimitExceeded" in failed.message


def test_terminate_cancels_running_tasks_and_pending_ones():
    exp = Exp().task("a").task("b", after=["a"]).obj()
    step(exp)
    step(exp, {("a", 1): Observed("running")})
    exp.spec.shutdown = "Terminate"
    d = step(exp, {("a", 1): Observed("running")})
    assert [type(a) for a in d.actions] == [Cancel]
    assert {t.phase for t in exp.status.tasks} == {TaskPhase.CANCELLED}
    assert exp.status.phase.value == "Cancelled"
    assert step(exp, {}).actions == []  # finished and gone from the backend: nothing more


def test_stop_lets_running_tasks_finish_and_starts_nothing_new():
    exp = Exp().task("a").task("b", after=["a"]).obj()
    step(exp)
    exp.spec.shutdown = "Stop"
    d = step(exp, {("a", 1): Observed("running")})
    assert d.actions == [] and exp.status.task("b").phase is TaskPhase.CANCELLED
    assert exp.status.phase.value == "Running"
    step(exp, {("a", 1): Observed("succeeded")})
    assert exp.status.task("a").phase is TaskPhase.SUCCEEDED and exp.status.phase.value == "Cancelled"


def test_suspend_and_resume_running_jobs_but_never_queued_ones():
    exp = Exp().task("a").task("q", queue="team").obj()
    step(exp)
    exp.spec.suspend = True
    d = step(exp, {("a", 1): Observed("running"), ("q", 1): Observed("running")})
    assert [(a.task, a.suspended) for a in d.actions if isinstance(a, Suspend)] == [("a", True)]
    assert exp.status.condition("Suspended").status == "True"
    exp.spec.suspend = False
    d = step(exp, {("a", 1): Observed("suspended"), ("q", 1): Observed("running")})
    assert [(a.task, a.suspended) for a in d.actions if isinstance(a, Suspend)] == [("a", False)]


def test_ttl_deletes_finished_experiment_after_it_elapses():
    exp = Exp().task("a").spec(ttlSecondsAfterFinished=60).obj()
    step(exp)
    d = step(exp, {("a", 1): Observed("succeeded")})
    assert d.requeue_after == 60
    d = step(exp, {("a", 1): Observed("succeeded")}, now=T0 + timedelta(seconds=61))
    assert d.actions == [DeleteExperiment()]


def test_local_tasks_fail_clearly_when_local_executor_is_disabled():
    exp = Exp().task("a", backend="local").obj()
    step(exp)
    assert exp.status.task("a").reason == "LocalExecutorDisabled"
    exp = Exp().task("a", backend="local").obj()
    assert submits(step(exp, local_enabled=True)) == [("a", 1)]


def test_events_only_for_transitions():
    exp = Exp().task("a").obj()
    assert step(exp).events == []  # submission is implied by what follows
    d = step(exp, {("a", 1): Observed("running")})
    assert [e.reason for e in d.events] == ["TaskRunning"]
    assert step(exp, {("a", 1): Observed("running")}).events == []
    d = step(exp, {("a", 1): Observed("succeeded")})
    assert [e.reason for e in d.events] == ["TaskSucceeded", "ExperimentSucceeded"]


def test_condition_transition_time_moves_only_on_flip():
    exp = Exp().task("a").obj()
    step(exp)
    step(exp, {("a", 1): Observed("running")}, now=T0 + timedelta(seconds=5))
    running = exp.status.condition("Running")
    assert running.status == "True" and running.last_transition_time == T0
    step(exp, {("a", 1): Observed("succeeded")}, now=T0 + timedelta(seconds=9))
    assert exp.status.condition("Running").last_transition_time == T0 + timedelta(seconds=9)
    assert exp.status.condition("Running").observed_generation == 1


def test_cancelled_attempt_still_alive_at_the_backend_is_cancelled_again():
    exp = Exp().task("a").obj()
    step(exp)
    exp.spec.shutdown = "Terminate"
    first = step(exp, {("a", 1): Observed("running")})
    assert [type(a) for a in first.actions] == [Cancel] and exp.status.phase.value == "Cancelled"
    # the cancel call failed (cluster unreachable): the backend still runs it
    again = step(exp, {("a", 1): Observed("running")})
    assert [type(a) for a in again.actions] == [Cancel] and again.requeue_after == 10.0
    assert step(exp, {}).actions == []  # gone: nothing more to do
