"""How performed actions' outcomes fold back into the status: ``fold_outcomes`` is pure and total."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kuberun.resource import LogRef, TaskPhase
from kuberun.resource.constants import MAX_MESSAGE
from kuberun_operator.actions import Cancel, DeleteExperiment, Suspend
from kuberun_operator.backends.base import BackendError, BackendNotConfigured, Submitted
from kuberun_operator.policy.submission import RETRY_AFTER_ERROR, Done, fold_outcomes, fold_submission
from kuberun_operator.reconcile import reconcile
from tests.helpers.builders import make_resource

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2026, 1, 1, 0, 0, 9, tzinfo=timezone.utc)


def decided():
    decision = reconcile(make_resource().task("a").obj(), {}, T0)
    (submit,) = decision.actions
    return decision, submit


PERMANENT = BackendError("InvalidJob", "Job rejected: x" * 200, permanent=True)
TRANSIENT = BackendError("ApiUnavailable", "connection refused", permanent=False)

# (outcome of the Submit, attempt phase after, reason, Warning Events, requeue)
CASES = {
    "submitted": (Submitted(id="job-1", log_ref=LogRef(kind="pod", container="task"), cluster="c"),
                  TaskPhase.SUBMITTED, None, [], None),
    "permanent-error": (PERMANENT, TaskPhase.FAILED, "InvalidJob", ["InvalidJob"], None),
    "transient-error": (TRANSIENT, TaskPhase.SUBMITTED, None, ["ApiUnavailable"], RETRY_AFTER_ERROR),
    "no-such-backend": (BackendNotConfigured("slurm"), TaskPhase.FAILED, "BackendNotConfigured",
                        ["BackendNotConfigured"], None),
}


@pytest.mark.parametrize(("outcome", "phase", "reason", "warnings", "requeue"), CASES.values(), ids=CASES.keys())
def test_a_submit_outcome_folds_into_the_attempt_and_the_task(outcome, phase, reason, warnings, requeue):
    decision, submit = decided()
    folded = fold_outcomes(decision, [(submit, outcome)], T1)
    attempt = folded.status.task("a").attempts[0]
    assert (attempt.phase, attempt.reason) == (phase, reason)
    assert folded.status.task("a").phase is phase
    assert [e.reason for e in folded.events if e.type == "Warning"] == warnings
    assert folded.requeue_after == requeue
    if phase is TaskPhase.FAILED:
        assert attempt.finish_time == T1 and folded.status.task("a").finish_time == T1
        assert attempt.message == outcome.message[:MAX_MESSAGE] and len(attempt.message) <= MAX_MESSAGE
    if isinstance(outcome, Submitted):
        assert (attempt.backend_ref.id, attempt.backend_ref.cluster, attempt.log_ref) == ("job-1", "c", outcome.log_ref)


def test_folding_leaves_the_decision_it_was_given_unchanged():
    decision, submit = decided()
    before = decision.status.to_dict()
    fold_outcomes(decision, [(submit, PERMANENT)], T1)
    assert decision.status.to_dict() == before and decision.events == []


def test_outcomes_of_cancel_suspend_and_delete_record_nothing_unless_they_failed():
    decision, submit = decided()
    ref = submit.ref
    done = [(Cancel("a", 1, ref), Done()), (Suspend("a", 1, ref, True), Done()), (DeleteExperiment(), Done())]
    assert fold_outcomes(decision, done, T1).status.to_dict() == decision.status.to_dict()
    failed = fold_outcomes(decision, [(Cancel("a", 1, ref), PERMANENT)], T1)  # a failed cancel is retried, not a failure
    assert failed.status.task("a").phase is TaskPhase.SUBMITTED and failed.requeue_after == RETRY_AFTER_ERROR


def test_a_stale_action_for_an_attempt_not_in_the_status_records_nothing():
    decision, _ = decided()
    assert fold_submission(decision.status, "a", 9, Submitted(id="x"), T1) == []
    assert fold_submission(decision.status, "zz", 1, PERMANENT, T1) == []


def test_the_earliest_requeue_wins():
    decision, submit = decided()
    decision.requeue_after = 3.0
    assert fold_outcomes(decision, [(submit, TRANSIENT)], T1).requeue_after == 3.0
