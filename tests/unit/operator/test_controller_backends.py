"""The controller and its backends: a submission error folded into the status by its kind, a missing
backend refused, and a backend's optional capabilities (CancelOnDelete, Polled, Lifecycle) used
only when it declares them; Warnings throttled by the injected clock.
"""

from __future__ import annotations

import asyncio

import pytest

from kuberun_operator.backends.base import REMOTE_FINALIZER, BackendError
from tests.helpers.controller import (
    KEY,
    Recording,
    Remote,
    harness,
    slurm_task,
)

# (what the backend's submit raises, the task's phase after, its reason, Warning reasons posted)
SUBMIT_ERRORS = {
    "permanent": (BackendError("SubmissionRejected", "sbatch said no", permanent=True), "Failed", "SubmissionRejected",
                  ["SubmissionRejected"]),
    "transient": (BackendError("BackendUnavailable", "cluster down", permanent=False), "Submitted", None,
                  ["BackendUnavailable"]),
}


@pytest.mark.parametrize(("error", "phase", "reason", "warnings"), SUBMIT_ERRORS.values(), ids=SUBMIT_ERRORS.keys())
async def test_a_submission_error_is_folded_into_the_status_by_its_kind(error, phase, reason, warnings):
    h = harness({"slurm": Recording(fail=error)})
    h.kube.add_experiment("exp", [slurm_task()])
    await h.reconcile()
    assert h.task()["phase"] == phase and h.task().get("reason") == reason
    assert [e.reason for e in h.events if e.type == "Warning"] == warnings


async def test_a_task_on_a_backend_this_operator_lacks_fails_with_backend_not_configured():
    h = harness()
    h.kube.add_experiment("exp", [slurm_task()])
    await h.reconcile()
    assert (h.task()["phase"], h.task()["reason"]) == ("Failed", "BackendNotConfigured")
    assert "no 'slurm' backend configured" in h.task()["message"]


async def test_a_backend_with_only_the_required_protocol_gets_no_finalizer_and_is_submitted_at_once():
    plain = Recording()
    h = harness({"slurm": plain})
    h.kube.add_experiment("exp", [slurm_task()])
    await h.reconcile()
    assert "finalizers" not in h.kube.experiments[KEY]["metadata"]
    assert plain.submitted == ["uid-exp-t-1"]
    attempt = h.task()["attempts"][0]
    assert (attempt["backendRef"]["id"], attempt["backendRef"]["cluster"]) == ("job-7", "c")


async def test_a_cancel_on_delete_backend_gets_its_finalizer_then_the_key_then_the_submit():
    remote = Remote()
    h = harness({"slurm": remote})
    h.kube.add_experiment("exp", [slurm_task()])
    await h.reconcile()
    assert h.kube.experiments[KEY]["metadata"]["finalizers"] == [REMOTE_FINALIZER] and "status" not in h.kube.experiments[KEY]
    await h.reconcile()
    assert remote.submitted == [] and h.task()["attempts"][0]["backendRef"]["idempotencyKey"] == "uid-exp-t-1"
    await h.reconcile()
    assert remote.submitted == ["uid-exp-t-1"]
    await asyncio.sleep(0.01)  # the phase-one requeue (0 s) fires
    await h.reconcile()
    # Polled: the running attempt is looked at again after poll_interval, without any event.
    assert h.controller.queue.due_in(KEY) > 5.0
    await h.controller.start()
    await h.controller.stop()
    assert remote.lifecycle == ["start", "stop"]  # Lifecycle
    await h.kube.delete_experiment("ns", "exp")
    await h.reconcile()
    assert remote.cancelled == ["uid-exp-t-1"] and KEY not in h.kube.experiments


async def test_the_same_warning_is_posted_at_most_every_five_minutes_by_the_clock():
    h = harness({"slurm": Recording(fail=BackendError("BackendUnavailable", "down", permanent=False))})
    h.kube.add_experiment("exp", [slurm_task()])
    await h.reconcile()
    h.clock.advance(60)
    await h.reconcile()
    assert [e.reason for e in h.events] == ["BackendUnavailable"]
    h.clock.advance(300)
    await h.reconcile()
    assert [e.reason for e in h.events] == ["BackendUnavailable", "BackendUnavailable"]
