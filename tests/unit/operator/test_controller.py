"""The controller against an in-memory API (``tests/helpers/controller.py``): it carries out what
reconcile decides, creates children idempotently, writes the status once per reconcile and only
on change, retries after a conflict, and reads time from its injected clock.

How it uses a backend's optional capabilities, and folds submission errors, is in
``test_controller_backends``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kuberun_operator.actions import Event
from kuberun_operator.backends.kubernetes import JobCache, PodCache
from kuberun_operator.kube import ApiError
from tests.helpers.builders import make_job_status
from tests.helpers.controller import (
    KEY,
    big_k8s_task,
    harness,
    job_named,
    k8s_task,
)


async def test_a_reconcile_creates_the_job_once_and_writes_status_once_and_a_small_document_needs_no_config_map():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    assert h.kube.created("ConfigMap") == [] and h.kube.created("Job") == ["exp-t-1"]
    assert len(h.kube.status_writes) == 1
    attempt = h.task()["attempts"][0]
    assert attempt["backendRef"]["id"] == "exp-t-1"  # the submission's result, folded into status
    assert attempt["submitTime"] == "2026-01-01T12:00:00Z"  # the injected clock's time
    assert h.status()["phase"] == "Running" and h.status()["startTime"] == "2026-01-01T12:00:00Z"


async def test_reconciling_again_without_news_writes_nothing_and_creates_nothing():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    calls = len(h.kube.calls)
    h.clock.advance(30)
    await h.reconcile()
    # Nothing new: no status write, no new object, no call at all (the document is in the Job).
    assert len(h.kube.status_writes) == 1 and len(h.kube.children) == 1
    assert h.kube.calls[calls:] == []


async def test_a_waiting_attempts_large_document_config_map_is_ensured_again_on_each_reconcile():
    h = harness()
    h.kube.add_experiment("exp", [big_k8s_task()])
    await h.reconcile()
    assert h.kube.created("ConfigMap") == ["exp-tasks"] and h.kube.created("Job") == ["exp-t-1"]
    calls = len(h.kube.calls)
    h.clock.advance(30)
    await h.reconcile()
    # level-triggered: ensured again (answered 409), nothing else is called
    assert len(h.kube.status_writes) == 1 and len(h.kube.children) == 2
    assert h.kube.calls[calls:] == [("get", "ConfigMap", "exp-tasks")]


async def test_a_job_created_before_a_crash_is_found_not_created_twice():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    h.jobs.remove(job_named(h, "exp-t-1"))  # the operator restarted: its caches are empty again
    await h.reconcile()  # the Job's UID is recorded: it is looked up, not created again
    assert h.kube.created("Job") == ["exp-t-1"] and ("get", "jobs", "exp-t-1") in h.kube.calls
    assert len(h.kube.children) == 1 and [a["attempt"] for a in h.task()["attempts"]] == [1]
    assert h.task()["phase"] == "Submitted"


async def test_a_job_created_before_the_status_recorded_it_is_found_by_a_409_not_doubled():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    h.kube.conflict_next_status_write = True
    with pytest.raises(ApiError):
        await h.reconcile()  # the Job exists; the status naming it was not written
    h.jobs.remove(job_named(h, "exp-t-1"))  # and the operator restarted
    await h.reconcile()  # no UID recorded: resubmitted under the same key; the API answers 409
    assert h.kube.created("Job") == ["exp-t-1", "exp-t-1"] and len([k for k in h.kube.children if k[0] == "Job"]) == 1


async def test_the_job_s_outcome_in_the_cache_finishes_the_experiment():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    done = make_job_status("exp-t-1").condition("Complete").obj()
    created = job_named(h, "exp-t-1")["metadata"]
    done["metadata"].update(namespace="ns", resourceVersion="999", ownerReferences=created["ownerReferences"],
                            labels=created["labels"])
    assert h.jobs.put(done) == KEY  # the handler's job_event does this, then enqueues the key
    h.clock.advance(5)
    await h.reconcile()
    assert h.status()["phase"] == "Succeeded" and h.status()["completionTime"] == "2026-01-01T12:00:05Z"
    assert [e.reason for e in h.events] == ["TaskSucceeded", "ExperimentSucceeded"]


@pytest.mark.parametrize("length", [63, 64, 200, 240])
async def test_an_experiment_of_any_valid_name_length_sees_its_job_finish(length):
    # The experiment label is hashed down past 63 characters; the cache files Jobs by owner UID.
    name = ("e" * length)
    key = ("ns", name)
    h = harness()
    h.kube.add_experiment(name, [k8s_task()])
    h.controller.experiment_seen(h.kube.experiments[key])
    await h.controller.reconcile_key(key)
    (job,) = [v for k, v in h.kube.children.items() if k[0] == "Job"]
    done = make_job_status(job["metadata"]["name"]).condition("Complete").obj()
    done["metadata"].update(namespace="ns", resourceVersion="999", ownerReferences=job["metadata"]["ownerReferences"],
                            labels=job["metadata"]["labels"])
    assert h.jobs.put(done) == key  # the key the controller knows the Experiment by
    h.controller.child_changed(h.jobs.put(done))
    assert h.controller.queue.depth() >= 1
    await h.controller.reconcile_key(key)
    assert h.kube.experiments[key]["status"]["phase"] == "Succeeded"


def test_pods_find_their_experiment_through_their_job():
    jobs, pods = JobCache(), PodCache()
    owner = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "name": "x" * 200, "uid": "u1", "controller": True}
    jobs.put({"metadata": {"name": "j", "namespace": "ns", "resourceVersion": "1", "ownerReferences": [owner]}})
    slot = pods.put({"metadata": {"name": "p", "namespace": "ns", "labels": {"job-name": "j"}}})
    assert jobs.experiment_of(*slot) == ("ns", "x" * 200)
    assert jobs.jobs("ns", "u1") and jobs.jobs("ns", "other-uid") == []


async def test_a_conflicting_status_write_is_retried_with_the_newer_object():
    h = harness()
    h.controller.retry_conflict = 0.0
    h.kube.add_experiment("exp", [k8s_task()])
    h.kube.conflict_next_status_write = True
    h.controller.experiment_seen(h.kube.experiments[KEY])
    await h.controller.start()
    try:
        for _ in range(200):  # bounded: the worker retries after the 409
            if h.kube.status_writes:
                break
            await asyncio.sleep(0.01)
    finally:
        await h.controller.stop()
    assert h.kube.status_writes[0]["phase"] == "Running"
    # The retry found the Job it had created (in the cache) and adopted it: not created again.
    assert h.kube.created("Job") == ["exp-t-1"] and [a["attempt"] for a in h.task()["attempts"]] == [1]
    assert len([k for k in h.kube.children if k[0] == "Job"]) == 1


async def test_an_invalid_spec_fails_once_with_the_clock_s_time_and_no_retry_loop():
    h = harness()
    h.kube.add_experiment("exp", [{"name": "Bad_Name", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}}])
    await h.reconcile()
    await h.reconcile()
    assert len(h.kube.calls) == 1  # rejected once; the second reconcile sees it already rejected
    condition = h.status()["conditions"][0]
    assert (h.status()["phase"], condition["reason"]) == ("Failed", "InvalidSpec")
    assert condition["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert [e.reason for e in h.events] == ["InvalidSpec"]
    assert h.status()["progress"] == "0/1"  # the TASKS printer column is not blank


async def test_a_job_deleted_after_its_uid_was_recorded_is_lost_and_the_retry_is_a_new_job():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task(retries={"limit": 1, "backoffSeconds": 0})])
    await h.reconcile()
    assert h.task()["attempts"][0]["backendRef"]["uid"] == job_named(h, "exp-t-1")["metadata"]["uid"]
    job = job_named(h, "exp-t-1")
    await h.kube.delete_job("ns", "exp-t-1")  # behind the operator's back
    h.jobs.remove(job)
    await h.reconcile()  # attempt 1: JobLost, confirmed by a 404 on the direct lookup
    await h.reconcile()  # the retry (no backoff) is attempt 2, a new Job
    assert h.kube.created("Job") == ["exp-t-1", "exp-t-2"]
    assert [(a["attempt"], a["phase"], a.get("reason")) for a in h.task()["attempts"]] == [
        (1, "Failed", "JobLost"), (2, "Submitted", None)]


async def test_a_job_replaced_under_the_same_name_is_lost_too():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    replacement = job_named(h, "exp-t-1") | {}
    replacement["metadata"] = {**replacement["metadata"], "uid": "someone-else", "resourceVersion": "5000"}
    h.jobs.put(replacement)
    await h.reconcile()
    assert (h.task()["phase"], h.task()["reason"]) == ("Failed", "JobLost") and h.kube.created("Job") == ["exp-t-1"]


async def test_events_are_posted_in_the_order_of_the_transitions_they_report():
    h = harness()
    posted: list[str] = []

    async def slow_first(body: dict[str, Any], event: Event) -> None:
        if event.reason == "TaskSucceeded":
            await asyncio.sleep(0.05)  # a slow API call must not let the later Event overtake it
        posted.append(event.reason)

    h.controller.post_event = slow_first
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    done = make_job_status("exp-t-1").condition("Complete").obj()
    created = job_named(h, "exp-t-1")["metadata"]
    done["metadata"].update(namespace="ns", resourceVersion="999", ownerReferences=created["ownerReferences"],
                            labels=created["labels"], uid=created["uid"])
    h.jobs.put(done)
    await h.reconcile()
    await h.controller.events.drain()
    assert posted == ["TaskSucceeded", "ExperimentSucceeded"]


async def test_a_wide_fan_out_submits_concurrently_but_bounded_and_records_every_attempt():
    from kuberun_operator.controller import SUBMIT_CONCURRENCY

    h = harness()
    h.kube.add_experiment("exp", [k8s_task(f"t{i}") for i in range(50)])
    create, in_flight, most = h.kube.create, [0], [0]

    async def slow_create(obj: dict[str, Any]) -> dict[str, Any]:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.001)
        in_flight[0] -= 1
        return await create(obj)

    h.kube.create = slow_create  # type: ignore[method-assign]
    await h.reconcile()
    assert sorted(h.kube.created("Job")) == sorted(f"exp-t{i}-1" for i in range(50))
    assert 1 < most[0] <= SUBMIT_CONCURRENCY
    assert len(h.kube.status_writes) == 1  # one status write for the whole fan-out
    assert all(t["attempts"][0]["backendRef"]["id"] == f"exp-{t['name']}-1" for t in h.status()["tasks"])


async def test_a_dependency_on_a_missing_task_admitted_without_cel_is_refused_with_invalid_spec():
    # The CRD no longer checks the task graph in CEL (its cost over 1,000 x 1,000): the operator does.
    h = harness()
    h.kube.add_experiment("exp", [k8s_task("a"), k8s_task("b", dependsOn=["nope"])])
    await h.reconcile()
    assert h.kube.created("Job") == []
    assert [e.reason for e in h.events] == ["InvalidSpec"] and "nope" in h.events[0].message
    assert any(c["reason"] == "InvalidSpec" for c in h.status()["conditions"])
