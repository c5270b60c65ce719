"""The operator's caches keep each object as compact JSON (``packed.py``): smaller, and as read as before.

An Experiment and its Job as the controller leaves them after a reconcile (``tests/helpers/controller.py``'s
harness, the in-memory API), cached both ways: the packed cache reads back what was put (slimmed),
hands out copies that cannot change it, answers versions and phases without decoding, and holds
a fraction of the dict form's memory. Its decode costs a fraction of the pydantic decode every
reconcile already does (a ratio in this process, not a timing).
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from kuberun_operator import slim
from kuberun_operator.backends.kubernetes.caches import JobCache
from kuberun_operator.decode import decode
from kuberun_operator.packed import PackedExperiments, pack, unpack
from kuberun_operator.resync import relist
from tests.helpers.controller import KEY, harness, k8s_task
from tests.unit.operator.test_slim import MANAGED

COPIES = 500


async def _reconciled() -> tuple[dict[str, Any], dict[str, Any]]:
    """An Experiment with its first status, and its Job, as served (managedFields added)."""
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    body = json.loads(json.dumps(h.kube.experiments[KEY]))
    body["metadata"]["managedFields"] = MANAGED
    (job,) = [json.loads(json.dumps(o)) for (kind, *_), o in h.kube.children.items() if kind == "Job"]
    job["metadata"]["managedFields"] = MANAGED
    return body, job


def _copy(body: dict[str, Any], i: int) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))  # fresh strings, as each watch event decodes its own
    copy["metadata"].update(name=f"exp-{i}", uid=f"uid-{i:08d}")
    return copy


def _traced(build: Callable[[], Any]) -> tuple[int, Any]:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        return tracemalloc.get_traced_memory()[0] - before, kept
    finally:
        tracemalloc.stop()


async def test_the_packed_cache_reads_back_the_slim_experiment_and_hands_out_copies() -> None:
    body, _ = await _reconciled()
    cache = PackedExperiments()
    cache[KEY] = body
    assert cache[KEY] == slim.experiment(body) and "managedFields" not in cache[KEY]["metadata"]
    assert KEY in cache and len(cache) == 1 and list(cache) == [KEY]
    assert cache.version(KEY) == (int(body["metadata"]["resourceVersion"]), body["metadata"]["uid"])
    assert list(cache.phases()) == [body["status"]["phase"]] and cache.version(("ns", "other")) is None
    handed = cache[KEY]
    handed["status"]["phase"] = "Failed"
    assert cache[KEY]["status"]["phase"] == body["status"]["phase"], "a reader's change does not reach the cache"
    cache[("ns", "new")] = {"metadata": {"name": "new", "namespace": "ns"}}
    assert sorted(cache.phases()) == sorted([body["status"]["phase"], "Pending"])
    del cache[("ns", "new")]
    assert ("ns", "new") not in cache and cache.get(("ns", "new")) is None


async def test_a_relist_replaces_the_packed_cache() -> None:
    body, _ = await _reconciled()

    class Listing:
        async def list_experiments(self, namespace: str | None = None) -> list[dict[str, Any]]:
            return [body]

    cache = PackedExperiments()
    cache[("ns", "gone")] = {"metadata": {"name": "gone", "namespace": "ns"}}
    assert await relist(Listing(), cache, ["ns"]) == [KEY]  # type: ignore[arg-type]
    assert list(cache) == [KEY] and cache[KEY] == slim.experiment(body)


async def test_packed_experiments_take_a_fraction_of_their_dict_form() -> None:
    body, _ = await _reconciled()
    bodies = [_copy(body, i) for i in range(COPIES)]
    as_dicts, _kept = _traced(lambda: [slim.experiment(json.loads(json.dumps(b))) for b in bodies])

    def packed() -> PackedExperiments:
        cache = PackedExperiments()
        for i, b in enumerate(bodies):
            cache[("ns", f"exp-{i}")] = b
        return cache

    as_packed, cache = _traced(packed)
    json_size = cache.nbytes() / COPIES
    assert as_packed < as_dicts / 2.5, f"packed {as_packed / COPIES:.0f} B each, as dicts {as_dicts / COPIES:.0f} B"
    assert as_packed / COPIES < json_size + 400, "an entry costs its JSON and a small index record"


async def test_cached_jobs_are_packed_and_read_as_before() -> None:
    _, job = await _reconciled()
    jobs = JobCache()
    owner = job["metadata"]["ownerReferences"][0]
    namespace = job["metadata"]["namespace"]
    jobs.put(job)
    assert jobs.jobs(namespace, owner["uid"]) == [slim.job(job)]
    newer = json.loads(json.dumps(job))
    newer["metadata"]["resourceVersion"] = str(int(job["metadata"]["resourceVersion"]) + 1)
    newer["status"] = {"active": 1}
    jobs.put(newer)
    jobs.put(job)  # an older copy arriving late does not win
    assert jobs.jobs(namespace, owner["uid"])[0]["status"] == {"active": 1}
    copies = [_copy(job, i) for i in range(COPIES)]
    as_dicts, _kept = _traced(lambda: [slim.job(json.loads(json.dumps(j))) for j in copies])
    cache = JobCache()
    as_packed, _ = _traced(lambda: [cache.put(j) for j in copies])
    assert as_packed < as_dicts / 2, f"packed {as_packed / COPIES:.0f} B each, as dicts {as_dicts / COPIES:.0f} B"


def _median_seconds(fn: Callable[[], Any], repeat: int = 7, number: int = 50) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


async def test_decoding_a_packed_experiment_costs_a_fraction_of_the_reconciles_own_decode() -> None:
    body, _ = await _reconciled()
    blob = pack(slim.experiment(body))
    read = _median_seconds(lambda: unpack(blob))
    pydantic = _median_seconds(lambda: decode(unpack(blob)))
    assert read < pydantic / 3, f"unpack {read * 1e6:.0f} us vs decode {pydantic * 1e6:.0f} us"
