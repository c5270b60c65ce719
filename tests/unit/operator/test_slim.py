"""What the caches keep (``slim.py``) is enough: every reader answers the same from the slim copy.

The readers are run on the object as served and on its slim copy, over the states they tell apart
(a real Job manifest from ``build_job``, with what an API server adds: managedFields, status); and
the slim copy is a fraction of the size.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kuberun_operator import slim
from kuberun_operator.backends.kubernetes.caches import JobCache, PodCache
from kuberun_operator.backends.kubernetes.manifests import build_job, exit_code_from_pods
from kuberun_operator.backends.kubernetes.status import (
    COMPLETION_INDEX,
    stuck_reason,
    summary_from_pods,
    task_phase_from_job,
)
from kuberun_operator.settings import Settings
from tests.helpers.builders import make_experiment, make_job_status, make_pod, make_task
from tests.unit.operator.backends.kubernetes.test_summary import _summary

MANAGED = [{"manager": "kuberun-operator", "operation": "Update", "fieldsType": "FieldsV1",
            "fieldsV1": {f"f:{i}": {"f:x": {}} for i in range(40)}}]


def _served_job(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    job = build_job(make_experiment().obj(), make_task().obj(), 1, Settings(default_image="img:1"))
    job["metadata"].update(uid="job-uid", resourceVersion="7", creationTimestamp="2030-01-01T00:00:00Z", managedFields=MANAGED)
    job["spec"].update(spec)
    job["status"] = status
    return job


@pytest.mark.parametrize(("status", "spec"), [
    ({}, {}),
    (make_job_status().started().status(ready=1, active=1).obj()["status"], {}),
    (make_job_status().started().condition("Complete").status(completionTime="2030-01-01T00:01:00Z").obj()["status"], {}),
    (make_job_status().condition("Failed", "BackoffLimitExceeded", "too many").obj()["status"], {}),
    (make_job_status().condition("Suspended", "JobSuspended").obj()["status"], {"suspend": True}),
])
def test_a_slim_job_reads_as_the_served_one(status: dict[str, Any], spec: dict[str, Any]) -> None:
    served = _served_job(status, **spec)
    kept = slim.job(served)
    assert task_phase_from_job(kept) == task_phase_from_job(served)
    assert kept["metadata"]["ownerReferences"] == served["metadata"]["ownerReferences"]
    assert kept["metadata"]["labels"] == served["metadata"]["labels"] and "managedFields" not in kept["metadata"]
    assert len(json.dumps(kept)) < len(json.dumps(served)) / 3, "the pod template and managedFields stay behind"


def test_a_queued_job_still_reads_as_waiting_for_kueue() -> None:
    served = _served_job(make_job_status().obj()["status"], suspend=True)
    served["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "q"
    assert task_phase_from_job(slim.job(served)) == task_phase_from_job(served)
    assert task_phase_from_job(slim.job(served)).reason == "WaitingForAdmission"


def _served_pod(pod: dict[str, Any], index: str = "0") -> dict[str, Any]:
    pod["metadata"].update(managedFields=MANAGED, annotations={COMPLETION_INDEX: index, "kuberun.dev/document": "x" * 30_000})
    pod["spec"] = {"containers": [{"name": "task", "image": "img:1", "command": ["true"]}]}
    return pod


def test_slim_pods_read_as_the_served_ones() -> None:
    ok = [_served_pod(make_pod("p-0").terminated(0, message=_summary(0.1)).obj(), "0"),
          _served_pod(make_pod("p-1").terminated(0, message=_summary(0.9)).obj(), "1")]
    failed = [_served_pod(make_pod("p-2").terminated(3, reason="Error", message="boom").obj())]
    stuck = [_served_pod(make_pod("p-3").failed("ImagePullBackOff", "no such image").obj())]
    for pods in (ok, failed, stuck):
        kept = [slim.pod(p) for p in pods]
        assert summary_from_pods(kept) == summary_from_pods(pods)
        assert exit_code_from_pods(kept) == exit_code_from_pods(pods)
        assert stuck_reason(kept) == stuck_reason(pods)
    assert summary_from_pods([slim.pod(p) for p in reversed(ok)]).metrics["loss"].value == 0.1, "rank 0 still known"
    assert len(json.dumps(slim.pod(ok[0]))) < 2_000, "the inherited runner document stays behind"


def test_a_slim_experiment_drops_only_the_servers_bookkeeping() -> None:
    body = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "spec": {"tasks": []}, "status": {"phase": "Running"},
            "metadata": {"name": "e", "namespace": "n", "uid": "u", "resourceVersion": "3", "managedFields": MANAGED,
                         "finalizers": ["kuberun.dev/x"], "labels": {"a": "b"},
                         "annotations": {"keep": "1", slim.LAST_APPLIED: "{...}"}}}
    kept = slim.experiment(body)
    assert "managedFields" not in kept["metadata"] and kept["metadata"]["annotations"] == {"keep": "1"}
    assert {k: v for k, v in kept.items() if k != "metadata"} == {k: v for k, v in body.items() if k != "metadata"}
    assert body["metadata"]["managedFields"] == MANAGED, "the watched object itself is not changed"
    plain = {"metadata": {"name": "e"}, "spec": {}}
    assert slim.experiment(plain) is plain


def test_the_caches_keep_slim_copies_and_forget_a_deleted_jobs_summary() -> None:
    jobs, pods = JobCache(), PodCache()
    served = _served_job({})
    owner = served["metadata"]["ownerReferences"][0]
    key = jobs.put(served)
    (cached,) = jobs.jobs(served["metadata"]["namespace"], owner["uid"])
    assert key == (served["metadata"]["namespace"], owner["name"]) and "template" not in cached["spec"]
    jobs.remember_summary("job-uid", "a summary")
    assert jobs.summary("job-uid") == (True, "a summary")
    jobs.remove(served)
    assert jobs.summary("job-uid") == (False, None) and jobs.jobs(served["metadata"]["namespace"], owner["uid"]) == []
    pod = _served_pod(make_pod("p-0").obj())
    pod["metadata"].setdefault("labels", {})["job-name"] = "j"
    pods.put(pod)
    (kept,) = pods.pods(pod["metadata"].get("namespace", ""), "j")
    assert "spec" not in kept and kept["metadata"]["annotations"] == {COMPLETION_INDEX: "0"}
