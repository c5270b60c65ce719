"""Informer semantics of the controller (issue 19.2) against the in-memory API: a failed
precondition reads the object again, a vanished Experiment is dropped, children are ensured on
every reconcile rather than memoised, and a periodic relist reconciles what the watch missed."""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import replace
from typing import Any

from kuberun_operator.kube import LIST_PAGE, ApiError, Kube
from kuberun_operator.packed import PackedExperiments
from kuberun_operator.resync import relist
from tests.helpers.controller import KEY, SETTINGS, big_k8s_task, harness, k8s_task


async def _until(predicate, what: str, rounds: int = 300) -> None:
    for _ in range(rounds):  # bounded: 300 x 10 ms
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached: {what}")


async def test_status_patches_failing_409_n_times_then_succeeding_are_refetched_each_time():
    h = harness()
    h.controller.retry_conflict = 0.0
    h.kube.add_experiment("exp", [k8s_task()])
    h.kube.status_conflicts = 5
    h.controller.experiment_seen(h.kube.experiments[KEY])
    await h.controller.start()
    try:
        await _until(lambda: h.kube.status_writes, "a status write")
    finally:
        await h.controller.stop()
    assert len(h.kube.status_writes) == 1 and h.status()["phase"] == "Running"
    assert h.kube.calls.count(("get", "experiments", "exp")) == 5  # one read per failed precondition
    assert h.kube.created("Job") == ["exp-t-1"]


async def test_a_cache_ahead_of_the_api_is_replaced_by_the_stored_copy_not_retried_forever():
    # The API's state went backwards (a restore): the cached copy's resourceVersion is higher
    # than the server's, so "keep the newest" would keep it, and every patch would fail for ever.
    h = harness()
    h.controller.retry_conflict = 0.0
    h.kube.add_experiment("exp", [k8s_task()])
    ahead = copy.deepcopy(h.kube.experiments[KEY])
    ahead["metadata"]["resourceVersion"] = "999999"
    h.controller.experiment_seen(ahead)
    await h.controller.start()
    try:
        await _until(lambda: h.kube.status_writes, "a status write")
    finally:
        await h.controller.stop()
    assert h.status()["phase"] == "Running"
    assert sum(c[:2] == ("patch", "experiments/status") for c in h.kube.calls) == 2  # one 409, then success


async def test_a_vanished_experiment_is_dropped_from_the_cache_not_reconciled_forever():
    h = harness()
    h.controller.retry_conflict = 0.0
    h.kube.add_experiment("exp", [k8s_task()])
    h.controller.experiment_seen(h.kube.experiments[KEY])
    del h.kube.experiments[KEY]  # deleted while the watch was away: no DELETED event
    await h.controller.start()
    try:
        await _until(lambda: KEY not in h.controller.experiments, "the Experiment dropped")
        await asyncio.sleep(0.05)
    finally:
        await h.controller.stop()
    assert h.kube.calls.count(("patch", "experiments/status", "exp")) == 1  # the 404, then no more tries


async def test_a_500_on_the_config_map_create_does_not_start_a_job_and_the_next_reconcile_makes_both():
    h = harness()
    h.kube.add_experiment("exp", [big_k8s_task()])
    h.kube.fail_create["ConfigMap"] = [ApiError(500, "InternalError", "etcd hiccup")]
    await h.reconcile()
    assert h.kube.created("Job") == [] and ("ConfigMap", "ns", "exp-tasks") not in h.kube.children
    assert h.task()["phase"] == "Submitted" and [e.reason for e in h.events] == ["ApiUnavailable"]
    await h.reconcile()
    assert ("ConfigMap", "ns", "exp-tasks") in h.kube.children and ("Job", "ns", "exp-t-1") in h.kube.children


async def test_a_config_map_deleted_while_its_attempt_waits_is_made_again():
    h = harness()
    h.kube.add_experiment("exp", [big_k8s_task()])
    await h.reconcile()
    h.jobs.put(h.kube.children[("Job", "ns", "exp-t-1")])
    del h.kube.children[("ConfigMap", "ns", "exp-tasks")]
    await h.reconcile()
    assert ("ConfigMap", "ns", "exp-tasks") in h.kube.children  # ensured, not remembered


async def test_the_periodic_resync_relists_reconciles_what_the_watch_missed_and_drops_what_went_away():
    h = harness()
    h.controller.settings = replace(SETTINGS, resync_seconds=0.05)
    h.kube.on_write = None  # the watch is down: nothing reaches the cache by events
    h.kube.add_experiment("exp", [k8s_task()])
    h.controller.experiments[("ns", "gone")] = {"metadata": {"name": "gone", "namespace": "ns", "resourceVersion": "1"}}
    await h.controller.start()
    try:
        await _until(lambda: h.kube.status_writes, "the missed Experiment reconciled")
    finally:
        await h.controller.stop()
    assert h.status()["phase"] == "Running" and ("ns", "gone") not in h.controller.experiments


async def test_a_multi_node_attempt_s_headless_service_deleted_while_it_runs_is_made_again():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task(executor={"kubernetes": {"nodes": 2}})])
    await h.reconcile()
    assert ("Service", "ns", "exp-t-1") in h.kube.children and ("Job", "ns", "exp-t-1") in h.kube.children
    h.jobs.put(h.kube.children[("Job", "ns", "exp-t-1")])
    del h.kube.children[("Service", "ns", "exp-t-1")]  # deleted behind the operator's back
    await h.reconcile()
    assert ("Service", "ns", "exp-t-1") in h.kube.children  # ensured on every reconcile, not remembered
    assert h.kube.created("Job") == ["exp-t-1"]  # and the Job is not made twice for it


class _PagedApi:
    """The SDK client's ``send`` for a list of Experiments, served ``limit`` at a time with ``continue`` tokens."""

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.bodies, self.queries = bodies, []

    def send(self, method: str, path: str, query: dict[str, Any] | None = None, **_: Any) -> Any:
        self.queries.append(dict(query or {}))
        start, limit = int((query or {}).get("continue") or 0), int((query or {})["limit"])
        page = self.bodies[start:start + limit]
        more = start + limit < len(self.bodies)
        data = json.dumps({"items": page, "metadata": {"continue": str(start + limit)} if more else {}}).encode()
        return type("Answer", (), {"status": 200, "reason": "OK", "data": data, "headers": {}})()


async def test_a_relist_reads_page_by_page_and_replaces_the_cache():
    bodies = [{"metadata": {"name": f"e-{i}", "namespace": "ns", "uid": f"u-{i}", "resourceVersion": "5"}}
              for i in range(1_205)]
    api = _PagedApi(bodies)
    cache = PackedExperiments()
    cache[("ns", "gone")] = {"metadata": {"name": "gone", "namespace": "ns", "resourceVersion": "9"}}
    keys = await relist(Kube(api=api), cache, ["ns"])
    assert [q.get("continue") for q in api.queries] == [None, str(LIST_PAGE), str(2 * LIST_PAGE)]
    assert all(q["limit"] == LIST_PAGE for q in api.queries), "no answer holds more than a page"
    assert keys == [("ns", f"e-{i}") for i in range(1_205)] and sorted(cache) == sorted(keys)
    assert cache[("ns", "e-1204")]["metadata"]["uid"] == "u-1204" and ("ns", "gone") not in cache
