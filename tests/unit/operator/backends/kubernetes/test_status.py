"""The Kubernetes backend's pure readers: a Job's status -> the attempt's state; pods -> its exit code."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kuberun_operator.backends.kubernetes.manifests import exit_code_from_pods, task_phase_from_job
from tests.helpers.builders import make_job_status, make_pod

# --- Job status -> attempt state -----------------------------------------------------------------

AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_a_new_job_is_pending():
    assert task_phase_from_job(make_job_status().obj()).state == "pending"


def test_a_job_with_ready_pods_is_running_since_its_start_time():
    seen = task_phase_from_job(make_job_status().started().status(active=2, ready=2).obj())
    assert (seen.state, seen.start_time, seen.finish_time) == ("running", AT, None)


def test_a_job_whose_pods_are_not_ready_yet_is_still_pending():
    seen = task_phase_from_job(make_job_status().started().status(active=1, ready=0).obj())
    assert (seen.state, seen.reason) == ("pending", "PodsNotReady")


def test_a_job_without_a_ready_count_is_running_when_pods_are_active():
    assert task_phase_from_job(make_job_status().status(active=1).obj()).state == "running"


def test_a_complete_job_succeeded_at_its_completion_time():
    seen = task_phase_from_job(make_job_status().started().status(completionTime="2026-01-01T01:00:00Z")
                               .condition("Complete", at="2026-01-01T01:00:05Z").obj())
    assert (seen.state, seen.start_time, seen.finish_time) == ("succeeded", AT, datetime(2026, 1, 1, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize("reason", ["BackoffLimitExceeded", "DeadlineExceeded", "PodFailurePolicy"])
def test_a_failed_job_reports_its_reason_and_when_it_failed(reason: str):
    seen = task_phase_from_job(make_job_status().started()
                               .condition("Failed", reason, "Job has reached the specified backoff limit",
                                          at="2026-01-01T00:10:00Z").obj())
    assert (seen.state, seen.reason) == ("failed", reason)
    assert seen.message == "Job has reached the specified backoff limit"
    assert seen.finish_time == datetime(2026, 1, 1, 0, 10, tzinfo=timezone.utc)


def test_a_decided_failure_counts_before_the_pods_have_terminated():
    seen = task_phase_from_job(make_job_status().condition("FailureTarget", "DeadlineExceeded").obj())
    assert (seen.state, seen.reason) == ("failed", "DeadlineExceeded")


def test_false_conditions_are_ignored():
    seen = task_phase_from_job(make_job_status().condition("Failed", "X", status="False").status(ready=1).obj())
    assert seen.state == "running"


def test_a_suspended_job_is_suspended_as_soon_as_its_spec_says_so():
    assert task_phase_from_job(make_job_status().suspended().obj()).state == "suspended"
    lagging = make_job_status().suspended(False).condition("Suspended", "JobSuspended").status(ready=1).obj()
    assert task_phase_from_job(lagging).state == "running"


def test_a_queued_job_waiting_for_kueue_is_pending_not_suspended():
    seen = task_phase_from_job(make_job_status().queue("team-a").suspended().condition("Suspended", "JobSuspended").obj())
    assert (seen.state, seen.reason) == ("pending", "WaitingForAdmission")
    assert "team-a" in (seen.message or "")


# --- pods -> exit code -------------------------------------------------------------------------


def test_exit_code_comes_from_the_terminated_task_container():
    code, pod, message = exit_code_from_pods([make_pod("p-1").terminated(3).sidecar_terminated(0).obj()])
    assert (code, pod) == (3, "p-1")
    assert message == "container 'task' of pod p-1 exited with code 3"


def test_exit_code_falls_back_to_the_last_terminated_state():
    code, pod, _ = exit_code_from_pods([make_pod("p-1").terminated(2, last=True).obj()])
    assert (code, pod) == (2, "p-1")


def test_oom_killed_is_named_in_the_message():
    code, _, message = exit_code_from_pods([make_pod("p-1").terminated(137, reason="OOMKilled").obj()])
    assert code == 137 and "OOMKilled" in (message or "") and "memory" in (message or "")


def test_the_latest_failure_wins_and_a_later_success_does_not_hide_it():
    pods = [
        make_pod("p-first").terminated(1, finished_at="2026-01-01T00:01:00Z").obj(),
        make_pod("p-retry").terminated(2, message="CUDA error", finished_at="2026-01-01T00:05:00Z").obj(),
        make_pod("p-peer").terminated(0, finished_at="2026-01-01T00:09:00Z").obj(),
    ]
    code, pod, message = exit_code_from_pods(pods)
    assert (code, pod) == (2, "p-retry") and (message or "").endswith(": CUDA error")


def test_a_pod_that_failed_without_its_container_terminating_is_reported():
    code, pod, message = exit_code_from_pods([make_pod("p-1").failed("Evicted", "node ran low on ephemeral storage").obj()])
    assert (code, pod) == (None, "p-1")
    assert message == "pod p-1 failed: Evicted: node ran low on ephemeral storage"


def test_no_pods_means_no_exit_code():
    assert exit_code_from_pods([]) == (None, None, None)
    assert exit_code_from_pods([make_pod().obj()]) == (None, None, None)


def test_long_termination_messages_are_bounded():
    _, _, message = exit_code_from_pods([make_pod().terminated(1, message="x" * 10_000).obj()])
    assert message is not None and len(message) <= 1024
