"""The controller against an in-memory API (``tests/helpers/fake_kube.py``): it carries out what
reconcile decides, creates children idempotently, writes the status once per reconcile and only
on change, retries after a conflict, reads time from its injected clock, and uses a backend's
optional capabilities only when the backend declares them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kuberun_operator.actions import Event, Observed
from kuberun_operator.backends.base import REMOTE_FINALIZER, BackendError, Submitted
from kuberun_operator.backends.kubernetes import JobCache, KubernetesBackend, PodCache
from kuberun_operator.controller import Controller
from kuberun_operator.kube import ApiError
from kuberun_operator.settings import Settings
from tests.helpers.builders import make_job_status
from tests.helpers.fake_kube import FakeKube

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
KEY = ("ns", "exp")
SETTINGS = Settings(workers=1, metrics_port=0, resync_seconds=0)


@dataclass
class FakeClock:
    t: datetime = T0

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@dataclass
class Harness:
    kube: FakeKube
    controller: Controller
    clock: FakeClock
    jobs: JobCache
    events: list[Event] = field(default_factory=list)

    async def reconcile(self) -> None:
        self.controller.experiment_seen(self.kube.experiments[KEY])
        await self.controller.reconcile_key(KEY)
        await asyncio.sleep(0)  # let background Event posting run

    def status(self) -> dict[str, Any]:
        return self.kube.experiments[KEY].get("status") or {}

    def task(self, name: str = "t") -> dict[str, Any]:
        return next(t for t in self.status()["tasks"] if t["name"] == name)


def harness(extra_backends: dict[str, Any] | None = None) -> Harness:
    kube, clock, jobs = FakeKube(), FakeClock(), JobCache()
    events: list[Event] = []

    async def post_event(body: dict[str, Any], event: Event) -> None:
        events.append(event)

    backends: dict[str, Any] = {"kubernetes": KubernetesBackend(kube, jobs, SETTINGS, PodCache())}  # type: ignore[arg-type]
    backends.update(extra_backends or {})
    controller = Controller(SETTINGS, kube, backends, post_event, clock=clock)  # type: ignore[arg-type]
    kube.on_write = controller.experiment_seen  # what the watch does
    return Harness(kube, controller, clock, jobs, events)


def k8s_task(name: str = "t", **extra: Any) -> dict[str, Any]:
    return {"name": name, "script": {"command": ["true"]}, "executor": {"kubernetes": {}}, **extra}


def big_k8s_task(name: str = "t") -> dict[str, Any]:
    """A task whose runner document is too large to travel in its Job: it needs the ConfigMap."""
    return {"name": name, "script": {"inline": "echo " + "x" * 40_000}, "executor": {"kubernetes": {}}}


def job_named(h: Harness, name: str) -> dict[str, Any]:
    return h.kube.children[("Job", "ns", name)]


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


class Recording:
    """A backend with only the required protocol; ``fail`` makes submit raise."""

    name = "slurm"

    def __init__(self, fail: BackendError | None = None) -> None:
        self.fail, self.submitted, self.cancelled = fail, [], []

    async def submit(self, exp: Any, task: Any, attempt: int, ref: Any) -> Submitted:
        if self.fail is not None:
            raise self.fail
        self.submitted.append(ref.idempotency_key)
        return Submitted(id="job-7", cluster="c")

    async def observe(self, exp: Any) -> dict[tuple[str, int], Observed]:
        return {}

    async def cancel(self, exp: Any, task: Any, attempt: int, ref: Any) -> None:
        self.cancelled.append(ref.idempotency_key)


class Remote(Recording):
    """Declares CancelOnDelete (a finalizer), Polled and Lifecycle."""

    finalizer = REMOTE_FINALIZER
    poll_interval = 7.0

    def __init__(self) -> None:
        super().__init__()
        self.lifecycle: list[str] = []

    async def start(self) -> None:
        self.lifecycle.append("start")

    async def stop(self) -> None:
        self.lifecycle.append("stop")


def slurm_task(name: str = "t") -> dict[str, Any]:
    return {"name": name, "script": {"command": ["true"]}, "executor": {"slurm": {"cluster": "c"}}}


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
    await asyncio.gather(*h.controller._background)
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
