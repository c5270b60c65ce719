"""Per-task cancel (policy/cancel.py, ``spec.cancelTasks``): pure reconcile, step by step."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kuberun.resource import ExperimentResource, TaskPhase
from kuberun.resource.spec import TaskCancel
from kuberun_operator.actions import Cancel, Observed, Submit
from kuberun_operator.reconcile import reconcile
from kuberun_operator.traits import BackendTraits, Traits
from tests.helpers.builders import make_resource as Exp

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
TRAITS = Traits(backends={"kubernetes": BackendTraits(suspendable=True),
                          "slurm": BackendTraits(record_before_submit=True)}, dependency_scopes={"a": "c/u", "b": "c/u"})


def step(exp: ExperimentResource, observed: dict | None = None, now: datetime = T0):
    decision = reconcile(exp, observed or {}, now, traits=TRAITS)
    exp.status = decision.status
    return decision


def ask(exp: ExperimentResource, task: str, by: str | None = "alice") -> None:
    exp.spec.cancel_tasks = [*(exp.spec.cancel_tasks or []), TaskCancel(task=task, by=by)]


def actions(decision, kind) -> list:
    return [a for a in decision.actions if isinstance(a, kind)]


def test_cancelling_a_running_task_cancels_its_attempt_skips_its_dependents_and_lets_the_others_run():
    exp = Exp().task("a").task("b", after=["a"]).task("c").obj()
    step(exp)
    running = {("a", 1): Observed("running"), ("c", 1): Observed("running")}
    step(exp, running)
    ask(exp, "a")
    d = step(exp, running, T0 + timedelta(seconds=5))
    assert [(c.task, c.attempt) for c in actions(d, Cancel)] == [("a", 1)]
    a, b, c = (exp.status.task(n) for n in "abc")
    assert (a.phase, a.reason, a.message) == (TaskPhase.CANCELLED, "Cancelled", "cancelled by alice (spec.cancelTasks)")
    assert (a.attempts[-1].phase, a.attempts[-1].message) == (TaskPhase.CANCELLED, a.message)
    assert (b.phase, b.reason, b.message) == (TaskPhase.SKIPPED, "DependencyFailed", "dependency 'a' was cancelled")
    assert not b.attempts
    assert c.phase is TaskPhase.RUNNING and exp.status.phase.value == "Running"
    assert any(e.reason == "TaskCancelled" and "cancelled by alice" in e.message for e in d.events)
    step(exp, {("a", 1): Observed("failed", exit_code=143), ("c", 1): Observed("succeeded")})
    a, c = exp.status.task("a"), exp.status.task("c")
    assert (a.phase, c.phase) == (TaskPhase.CANCELLED, TaskPhase.SUCCEEDED)  # the killed Job's failure changes nothing
    assert (exp.status.phase.value, exp.status.condition("Cancelled").reason) == ("Cancelled", "TasksCancelled")
    assert "task 'a' cancelled by alice" in exp.status.condition("Cancelled").message


def test_asking_again_or_twice_changes_nothing_and_a_finished_task_keeps_its_outcome():
    exp = Exp().task("a").task("c").obj()
    step(exp)
    step(exp, {("a", 1): Observed("succeeded"), ("c", 1): Observed("running")})
    ask(exp, "a")
    ask(exp, "c", by="bob")
    d = step(exp, {("c", 1): Observed("running")})
    assert exp.status.task("a").phase is TaskPhase.SUCCEEDED
    assert [x.task for x in actions(d, Cancel)] == ["c"]
    assert exp.status.task("c").message == "cancelled by bob (spec.cancelTasks)"
    before = exp.status.to_dict()
    ask(exp, "c", by="carol")  # a second entry for the same task (the CRD keys the list; the operator copes)
    again = step(exp, {}, T0 + timedelta(seconds=30))  # gone at the backend
    assert again.actions == [] and exp.status.to_dict()["tasks"] == before["tasks"]


def test_a_pending_task_never_starts_and_a_task_waiting_to_retry_is_not_retried():
    exp = Exp().task("a").task("b", after=["a"]).task("r", retries=3).obj()
    step(exp)
    step(exp, {("a", 1): Observed("running"), ("r", 1): Observed("failed", exit_code=1, finish_time=T0)})
    assert exp.status.task("r").next_retry_time is not None
    ask(exp, "b")
    ask(exp, "r")
    step(exp, {("a", 1): Observed("running")})
    d = step(exp, {("a", 1): Observed("succeeded")}, T0 + timedelta(seconds=60))  # past r's backoff, b's parent done
    assert actions(d, Submit) == []
    for name in "br":
        record = exp.status.task(name)
        assert (record.phase, record.next_retry_time, record.reason) == (TaskPhase.CANCELLED, None, "Cancelled")
    assert len(exp.status.task("r").attempts) == 1 and not exp.status.task("b").attempts


def test_after_an_operator_restart_a_cancel_the_backend_missed_is_sent_again():
    exp = Exp().task("a").obj()
    step(exp)
    ask(exp, "a")
    step(exp, {("a", 1): Observed("running")})  # Cancel decided; suppose the delete call failed and we crashed
    stored = ExperimentResource.model_validate(exp.to_dict())
    d = step(stored, {("a", 1): Observed("running")}, T0 + timedelta(seconds=20))
    assert [(c.task, c.attempt) for c in actions(d, Cancel)] == [("a", 1)]
    assert stored.status.task("a").phase is TaskPhase.CANCELLED


def test_a_slurm_job_queued_behind_a_cancelled_parent_is_scancelled_and_skipped():
    exp = (Exp().task("a", backend="slurm", cluster="c").task("b", after=["a"], backend="slurm", cluster="c").obj())
    step(exp)  # phase one: a's key recorded
    step(exp)  # phase two: a submitted
    exp.status.task("a").attempts[-1].backend_ref.id = "41"
    step(exp, {("a", 1): Observed("running", backend_id="41")})
    step(exp, {("a", 1): Observed("running", backend_id="41")})  # b queued behind a (afterok)
    assert exp.status.task("b").phase is TaskPhase.SUBMITTED
    ask(exp, "a")
    d = step(exp, {("a", 1): Observed("running", backend_id="41"), ("b", 1): Observed("pending")})
    assert sorted(c.task for c in actions(d, Cancel)) == ["a", "b"]
    b = exp.status.task("b")
    assert (b.phase, b.reason, b.message) == (TaskPhase.SKIPPED, "DependencyFailed",
                                              "dependency 'a' was cancelled; its queued job was cancelled")


def test_a_request_naming_no_task_is_a_condition_and_one_event_and_cancels_nothing():
    exp = Exp().task("a").obj()
    step(exp)
    ask(exp, "nope")
    d = step(exp, {("a", 1): Observed("running")})
    assert actions(d, Cancel) == [] and exp.status.task("a").phase is TaskPhase.RUNNING
    cond = exp.status.condition("CancelTasksValid")
    assert (cond.status, cond.reason) == ("False", "UnknownTask") and "nope" in cond.message
    assert [e.reason for e in d.events if e.type == "Warning"] == ["UnknownTask"]
    again = step(exp, {("a", 1): Observed("running")}, T0 + timedelta(seconds=10))
    assert again.events == []
    exp.spec.cancel_tasks = [TaskCancel(task="a", by="alice")]
    step(exp, {("a", 1): Observed("running")})
    assert exp.status.condition("CancelTasksValid").status == "True"
    assert exp.status.task("a").phase is TaskPhase.CANCELLED


def test_a_request_that_names_nobody_says_so():
    exp = Exp().task("a").obj()
    ask(exp, "a", by=None)
    step(exp)
    assert exp.status.task("a").message == "cancelled by a request that names nobody (spec.cancelTasks)"
