"""The pure reconcile: DAG order, retries, failure propagation, lifecycle, idempotence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kuberun.resource import ExperimentResource, TaskPhase
from kuberun_operator.actions import Cancel, DeleteExperiment, Observed, Submit, Suspend
from kuberun_operator.backends.kubernetes.status import STUCK_REASONS
from kuberun_operator.reconcile import reconcile
from kuberun_operator.traits import BackendTraits, Traits
from tests.helpers.builders import make_resource as Exp

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
# What the Kubernetes backend declares (test_traits.py checks the real backend declares exactly this).
KUBERNETES = BackendTraits(suspendable=True, unretryable=STUCK_REASONS)
REMOTE = BackendTraits(record_before_submit=True)
TRAITS = Traits(backends={"kubernetes": KUBERNETES})


def step(exp: ExperimentResource, observed: dict | None = None, now: datetime = T0, **kw):
    kw.setdefault("traits", TRAITS)
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


# (seconds after T0, what the backend reports, submits expected, requeue expected)
RETRY_SEQUENCE = [
    (0, {("a", 1): Observed("failed", exit_code=3, finish_time=T0)}, [], 10),
    (5, {}, [], 5),                                   # still backing off
    (10, {}, [("a", 2)], None),                       # backoffSeconds elapsed
    (20, {("a", 2): Observed("failed", exit_code=3, finish_time=T0 + timedelta(seconds=20))}, [], 20),  # doubled
    (40, {}, [("a", 3)], None),
    (50, {("a", 3): Observed("failed", exit_code=4)}, [], None),  # out of retries
]


def test_failed_attempt_is_retried_after_exponential_backoff():
    exp = Exp().task("a", retries=2).obj()
    step(exp)
    for seconds, observed, expected_submits, expected_requeue in RETRY_SEQUENCE:
        d = step(exp, observed, now=T0 + timedelta(seconds=seconds))
        assert (seconds, submits(d)) == (seconds, expected_submits)
        assert (seconds, d.requeue_after) == (seconds, expected_requeue)
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
    traits = Traits(backends={"kubernetes": KUBERNETES}, suspend_owners={"q": "Kueue"})
    step(exp, traits=traits)
    exp.spec.suspend = True
    d = step(exp, {("a", 1): Observed("running"), ("q", 1): Observed("running")}, traits=traits)
    assert [(a.task, a.suspended) for a in d.actions if isinstance(a, Suspend)] == [("a", True)]
    assert exp.status.condition("Suspended").status == "True"
    exp.spec.suspend = False
    d = step(exp, {("a", 1): Observed("suspended"), ("q", 1): Observed("running")}, traits=traits)
    assert [(a.task, a.suspended) for a in d.actions if isinstance(a, Suspend)] == [("a", False)]


# (spec.suspend, what the backend reports, the backend's traits, who owns suspend, Suspend actions expected)
SUSPEND_CASES = {
    "suspend-running": (True, "running", KUBERNETES, None, [True]),
    "already-suspended": (True, "suspended", KUBERNETES, None, []),
    "resume-suspended": (False, "suspended", KUBERNETES, None, [False]),
    "running-and-wanted-running": (False, "running", KUBERNETES, None, []),
    "owned-by-kueue": (True, "running", KUBERNETES, "Kueue", []),
    "backend-cannot-suspend": (True, "running", BackendTraits(), None, []),
    "not-yet-observed": (True, None, KUBERNETES, None, []),
}


@pytest.mark.parametrize(("want", "state", "backend", "owner", "expected"), SUSPEND_CASES.values(), ids=SUSPEND_CASES.keys())
def test_suspend_follows_the_spec_only_where_the_backend_can_and_kuberun_owns_it(want, state, backend, owner, expected):
    exp = Exp().task("a").obj()
    traits = Traits(backends={"kubernetes": backend}, suspend_owners={"a": owner} if owner else {})
    step(exp, traits=traits)
    step(exp, {("a", 1): Observed("running")}, traits=traits)
    exp.spec.suspend = want
    d = step(exp, {("a", 1): Observed(state)} if state else {}, traits=traits)
    assert [a.suspended for a in d.actions if isinstance(a, Suspend)] == expected


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


def test_remote_attempt_is_recorded_one_reconcile_before_it_is_submitted():
    exp = Exp().task("a", backend="slurm", cluster="c").obj()
    traits = Traits(backends={"slurm": REMOTE})
    first = step(exp, traits=traits)
    assert submits(first) == [] and first.requeue_after == 0.0  # phase one: only the key, in status
    attempt = exp.status.task("a").attempts[0]
    assert attempt.backend_ref.idempotency_key == "uid-1-a-1" and attempt.phase is TaskPhase.SUBMITTED
    second = step(exp, traits=traits)  # the key is stored and the backend knows nothing: submit it
    assert submits(second) == [("a", 1)] and second.actions[0].ref.idempotency_key == "uid-1-a-1"
    assert len(exp.status.task("a").attempts) == 1


def test_without_declared_traits_a_backend_is_submitted_at_once():
    exp = Exp().task("a", backend="slurm", cluster="c").obj()
    assert submits(step(exp, traits=Traits())) == [("a", 1)]


# (reason the attempt failed with, the backend's unretryable reasons, retried?, cancelled?)
FAILURE_CASES = {
    "stuck-pod-reason": ("ImagePullBackOff", STUCK_REASONS, False, True),
    "missing-secret": ("CreateContainerConfigError", STUCK_REASONS, False, True),
    "plain-failure": ("BackoffLimitExceeded", STUCK_REASONS, True, False),
    "reason-not-declared": ("ImagePullBackOff", frozenset(), True, False),
}


@pytest.mark.parametrize(("reason", "unretryable", "retried", "cancelled"), FAILURE_CASES.values(), ids=FAILURE_CASES.keys())
def test_failures_the_backend_declares_unretryable_are_cancelled_not_retried(reason, unretryable, retried, cancelled):
    exp = Exp().task("a", retries=3).obj()
    traits = Traits(backends={"kubernetes": BackendTraits(unretryable=unretryable)})
    step(exp, traits=traits)
    d = step(exp, {("a", 1): Observed("failed", reason=reason, finish_time=T0)}, traits=traits)
    assert (exp.status.task("a").phase is TaskPhase.PENDING) == retried
    assert ([type(a) for a in d.actions] == [Cancel]) == cancelled
    if not retried:
        assert exp.status.task("a").phase is TaskPhase.FAILED and exp.status.task("a").reason == reason


def test_a_failed_branch_is_skipped_in_one_reconcile_whatever_the_declaration_order():
    exp = Exp().task("c", after=["b"]).task("b", after=["a"]).task("a").obj()
    step(exp)
    step(exp, {("a", 1): Observed("failed", reason="Error")})
    assert [(t.name, t.phase, t.reason) for t in exp.status.tasks] == [
        ("c", TaskPhase.SKIPPED, "DependencyFailed"), ("b", TaskPhase.SKIPPED, "DependencyFailed"),
        ("a", TaskPhase.FAILED, "Error")]
    assert exp.status.phase.value == "Failed"


def test_dependents_of_a_refused_local_task_are_skipped_in_the_same_reconcile():
    exp = Exp().task("a", backend="local").task("b", after=["a"]).obj()
    step(exp)
    assert exp.status.task("a").reason == "LocalExecutorDisabled"
    assert exp.status.task("b").phase is TaskPhase.SKIPPED and exp.status.phase.value == "Failed"


def test_reconcile_does_not_change_the_status_it_was_given():
    exp = Exp().task("a").obj()
    step(exp)
    before = exp.status.to_dict()
    reconcile(exp, {("a", 1): Observed("succeeded")}, T0, traits=TRAITS)
    assert exp.status.to_dict() == before


# At most once (issue 19.3): once the child's identity is recorded, a missing child is never re-created
# under the same attempt. (retries, what the backend reports after the UID was seen,
#  submits expected, attempt 1's phase and reason, the task's phase)
LOST = {
    "unseen-for-now-waits": (1, None, [], "Running", None, "Running"),
    "lost-with-a-retry-left-waits-its-backoff": (1, Observed("lost", reason="JobLost", message="gone"),
                                                [], "Failed", "JobLost", "Pending"),
    "lost-without-retries-fails-the-task": (0, Observed("lost", reason="JobLost"), [], "Failed", "JobLost", "Failed"),
}


@pytest.mark.parametrize(("retries", "seen", "expected_submits", "attempt_phase", "reason", "task_phase"),
                         LOST.values(), ids=LOST.keys())
def test_a_child_that_disappears_after_creation_ends_its_attempt_and_is_never_resubmitted(
        retries, seen, expected_submits, attempt_phase, reason, task_phase):
    exp = Exp().task("a", retries=retries).obj()
    step(exp)
    step(exp, {("a", 1): Observed("running", backend_uid="job-uid-1", start_time=T0)})
    assert exp.status.task("a").attempts[0].backend_ref.uid == "job-uid-1"  # recorded as soon as seen
    decision = step(exp, {("a", 1): seen} if seen is not None else {}, now=T0 + timedelta(seconds=5))
    assert submits(decision) == expected_submits
    first = exp.status.task("a").attempts[0]
    assert (first.phase.value, first.reason) == (attempt_phase, reason)
    assert exp.status.task("a").phase.value == task_phase
    if seen is None:
        assert decision.requeue_after is not None  # looked for again
    else:
        assert first.finish_time == T0 + timedelta(seconds=5) and first.exit_code is None
    if task_phase == "Pending":  # the retry policy decides: a new attempt (a new Job), attempt 1 kept
        later = step(exp, {("a", 1): seen}, now=T0 + timedelta(seconds=30))
        assert submits(later) == [("a", 2)]
        assert [(a.attempt, a.reason) for a in exp.status.task("a").attempts] == [(1, "JobLost"), (2, None)]


def test_a_child_the_record_lacks_is_adopted_under_its_attempt_and_follows_suspend():
    # The Job was created, then the status write naming it lost a race with a spec change.
    exp = Exp().task("a").spec(suspend=True).obj()
    decision = step(exp, {("a", 1): Observed("pending", backend_id="exp-a-1", backend_uid="u1")})
    (attempt,) = exp.status.task("a").attempts
    assert (attempt.attempt, attempt.backend_ref.id, attempt.backend_ref.uid) == (1, "exp-a-1", "u1")
    assert submits(decision) == [] and [type(a).__name__ for a in decision.actions] == ["Suspend"]


def test_a_suspended_attempt_shows_suspended_and_a_resumed_one_submitted_then_running():
    exp = Exp().task("a").obj()
    step(exp)
    step(exp, {("a", 1): Observed("running", start_time=T0)})
    step(exp, {("a", 1): Observed("suspended")})
    assert exp.status.task("a").phase is TaskPhase.SUSPENDED and exp.status.phase.value == "Running"
    assert exp.status.task("a").attempts[0].phase is TaskPhase.SUSPENDED
    step(exp, {("a", 1): Observed("pending")})  # resumed: its new pod is not running yet
    assert exp.status.task("a").phase is TaskPhase.SUBMITTED
    step(exp, {("a", 1): Observed("running", start_time=T0)})
    assert exp.status.task("a").phase is TaskPhase.RUNNING


def test_started_is_never_before_submitted_nor_finished_before_started():
    submitted = T0 + timedelta(milliseconds=400)  # sub-second submit; the Job reports whole seconds
    exp = Exp().task("a").obj()
    step(exp, now=submitted)
    step(exp, {("a", 1): Observed("running", start_time=T0)}, now=submitted + timedelta(seconds=1))
    attempt = exp.status.task("a").attempts[0]
    assert attempt.start_time == attempt.submit_time == submitted
    step(exp, {("a", 1): Observed("succeeded", start_time=T0, finish_time=T0)}, now=submitted + timedelta(seconds=2))
    attempt = exp.status.task("a").attempts[0]
    assert attempt.finish_time == submitted and attempt.start_time <= attempt.finish_time
