"""Early submission behind running parents (policy/early.py): pure reconcile, step by step."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kuberun.resource import ExperimentResource, TaskPhase
from kuberun_operator.actions import Cancel, Observed, Parent, Submit
from kuberun_operator.reconcile import reconcile
from kuberun_operator.traits import BackendTraits, Traits
from tests.helpers.builders import make_resource as Exp

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
SLURM = BackendTraits(record_before_submit=True)  # what the Slurm backend declares (CancelOnDelete)


def traits(**scopes: str) -> Traits:
    return Traits(backends={"slurm": SLURM, "kubernetes": BackendTraits()}, dependency_scopes=scopes)


def step(exp: ExperimentResource, observed: dict | None = None, now: datetime = T0, *, scopes: dict | None = None):
    decision = reconcile(exp, observed or {}, now, traits=traits(**(scopes if scopes is not None else SAME)))
    exp.status = decision.status
    return decision


def submits(decision) -> list[Submit]:
    return [a for a in decision.actions if isinstance(a, Submit)]


def slurm_chain(retries: int = 0) -> ExperimentResource:
    return (Exp().task("a", backend="slurm", cluster="c", retries=retries)
            .task("b", after=["a"], backend="slurm", cluster="c").obj())


SAME = {"a": "c/u", "b": "c/u", "c": "c/u"}


def record_id(exp: ExperimentResource, task: str, job_id: str) -> None:
    exp.status.task(task).attempts[-1].backend_ref.id = job_id  # what folding the Submitted outcome does


def start_a(exp: ExperimentResource, scopes: dict | None = None) -> None:
    step(exp, scopes=scopes)                                    # phase one: a's key recorded
    (submit,) = submits(step(exp, scopes=scopes))               # phase two: a submitted
    assert (submit.task, submit.after) == ("a", ())
    record_id(exp, "a", "101")


def queue_b_behind_a(exp: ExperimentResource) -> dict:
    """a running as job 101, b submitted behind it (both phases) and recorded as job 102; a's observation."""
    start_a(exp)
    running = {("a", 1): Observed("running", backend_id="101")}
    step(exp, running)
    step(exp, running)
    record_id(exp, "b", "102")
    return running


def test_a_slurm_dependent_is_submitted_behind_its_running_slurm_parent():
    exp = slurm_chain()
    start_a(exp)
    running = {("a", 1): Observed("running", backend_id="101")}
    step(exp, running)                                          # b: phase one, recorded before its parent finished
    assert exp.status.task("b").phase is TaskPhase.SUBMITTED
    (submit,) = submits(step(exp, running))                     # b: phase two, queued behind a's job
    assert (submit.task, submit.attempt, submit.after) == ("b", 1, (Parent("a", 1, "101"),))
    done = step(exp, {("a", 1): Observed("succeeded", backend_id="101"), ("b", 1): Observed("pending", backend_id="102")})
    assert submits(done) == [] and exp.status.task("b").phase is TaskPhase.SUBMITTED  # never submitted twice


def test_without_a_shared_scope_the_dependent_waits_for_its_parent_to_succeed():
    for scopes in ({"a": "c/u", "b": "d/u"}, {"a": "c/u"}, {}):
        exp = slurm_chain()
        start_a(exp, scopes)
        step(exp, {("a", 1): Observed("running", backend_id="101")}, scopes=scopes)
        assert exp.status.task("b").phase is TaskPhase.PENDING, scopes


def test_a_parent_without_a_job_id_yet_or_with_retries_left_is_not_queued_behind():
    exp = slurm_chain()
    step(exp)
    step(exp)                                                    # a submitted, its id not yet recorded
    step(exp, {("a", 1): Observed("pending")})
    assert exp.status.task("b").phase is TaskPhase.PENDING
    retrying = slurm_chain(retries=1)                            # a failure of a's job would be retried by a new job
    start_a(retrying)
    step(retrying, {("a", 1): Observed("running", backend_id="101")})
    assert retrying.status.task("b").phase is TaskPhase.PENDING


def test_when_the_parent_fails_the_queued_dependent_is_cancelled_and_skipped_with_a_reason():
    exp = slurm_chain()
    queue_b_behind_a(exp)
    decision = step(exp, {("a", 1): Observed("failed", backend_id="101", exit_code=1),
                          ("b", 1): Observed("pending", backend_id="102", message="Dependency")})
    (cancel,) = [a for a in decision.actions if isinstance(a, Cancel)]
    assert (cancel.task, cancel.attempt, cancel.ref.id) == ("b", 1, "102")
    b = exp.status.task("b")
    assert (b.phase, b.reason) == (TaskPhase.SKIPPED, "DependencyFailed") and "'a' did not succeed" in b.message
    assert (b.attempts[-1].phase, b.attempts[-1].reason) == (TaskPhase.CANCELLED, "DependencyFailed")
    assert exp.status.phase.value == "Failed"
    # Slurm still lists it pending (DependencyNeverSatisfied) for a moment: it is cancelled again, never left.
    again = step(exp, {("a", 1): Observed("failed", backend_id="101"), ("b", 1): Observed("pending", backend_id="102")},
                 now=T0 + timedelta(seconds=5))
    assert [a.task for a in again.actions if isinstance(a, Cancel)] == ["b"]


def test_a_queued_chain_is_dropped_whole_when_its_root_fails():
    exp = (Exp().task("a", backend="slurm", cluster="c").task("b", after=["a"], backend="slurm", cluster="c")
           .task("c", after=["b"], backend="slurm", cluster="c").obj())
    running = queue_b_behind_a(exp)
    running[("b", 1)] = Observed("pending", backend_id="102")
    step(exp, running)
    (submit,) = submits(step(exp, running))
    assert submit.after == (Parent("b", 1, "102"),)  # c waits for b only; b waits for a in Slurm
    record_id(exp, "c", "103")
    decision = step(exp, {("a", 1): Observed("failed", backend_id="101"), ("b", 1): Observed("pending", backend_id="102"),
                          ("c", 1): Observed("pending", backend_id="103")})
    assert sorted(a.task for a in decision.actions if isinstance(a, Cancel)) == ["b", "c"]
    assert [exp.status.task(n).phase for n in "bc"] == [TaskPhase.SKIPPED, TaskPhase.SKIPPED]


def test_a_parent_that_fails_between_the_two_submit_phases_never_gets_its_dependent_submitted():
    exp = slurm_chain()
    start_a(exp)
    step(exp, {("a", 1): Observed("running", backend_id="101")})          # b recorded (phase one)
    decision = step(exp, {("a", 1): Observed("failed", backend_id="101")})  # phase two would be now
    assert submits(decision) == []
    assert exp.status.task("b").phase is TaskPhase.SKIPPED


def test_shutdown_stop_cancels_a_job_still_queued_behind_its_parents_but_lets_the_parent_finish():
    exp = slurm_chain()
    running = queue_b_behind_a(exp)
    exp.spec.shutdown = "Stop"
    decision = step(exp, {**running, ("b", 1): Observed("pending", backend_id="102")})
    assert [a.task for a in decision.actions if isinstance(a, Cancel)] == ["b"]
    assert exp.status.task("b").phase is TaskPhase.CANCELLED and exp.status.task("a").phase is TaskPhase.RUNNING


def test_a_kubernetes_dependent_of_a_slurm_task_still_waits():
    exp = Exp().task("a", backend="slurm", cluster="c").task("k", after=["a"]).obj()
    start_a(exp, {"a": "c/u"})
    step(exp, {("a", 1): Observed("running", backend_id="101")}, scopes={"a": "c/u"})
    assert exp.status.task("k").phase is TaskPhase.PENDING
