"""The collector's loop: leader-only (shard 0's lease), a failed pass counted and retried, results as metrics."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from kuberun_operator import codegc
from kuberun_operator.kube import ApiError
from kuberun_operator.metrics import Metrics
from kuberun_operator.settings import Settings


class _Kube:
    def __init__(self, fail: bool = False) -> None:
        self.calls, self.fail = 0, fail

    async def list_config_maps(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        self.calls += 1
        if self.fail:
            raise ApiError(503, "ServiceUnavailable", "the API is away")
        return [{"metadata": {"name": "kuberun-code-x-0", "namespace": "a", "resourceVersion": "1",
                              "annotations": {codegc.ANNOTATION_CODE_SHA256: "x"}}}]

    async def list_experiments(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return []

    async def patch_config_map(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return {}


def _controller(kube: _Kube, held: list[int] | None) -> Any:
    gate = SimpleNamespace(held=lambda: held) if held is not None else None
    clock = SimpleNamespace(now=lambda: datetime(2026, 1, 1, tzinfo=timezone.utc))
    return SimpleNamespace(kube=kube, gate=gate, clock=clock, metrics=Metrics(), settings=Settings(namespaces=("a",)))


async def _run(controller: Any, passes: int = 3) -> None:
    task = asyncio.create_task(codegc.collect_forever(controller, 0.01, 3600.0, 10))
    for _ in range(200):  # bounded: at most 2 s
        await asyncio.sleep(0.01)
        if controller.kube.calls >= passes:
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _count(metrics: Metrics, result: str) -> float:
    return metrics.code_gc.labels(result=result)._value.get()


async def test_a_replica_without_shard_0s_lease_never_collects():
    controller = _controller(_Kube(), held=[1])
    await _run(controller, passes=1)
    assert controller.kube.calls == 0


async def test_the_leader_collects_and_counts_what_it_did():
    controller = _controller(_Kube(), held=[0])
    await _run(controller)
    assert controller.kube.calls >= 1 and _count(controller.metrics, "marked") >= 1


async def test_a_failed_pass_is_counted_and_the_loop_goes_on():
    controller = _controller(_Kube(fail=True), held=None)
    await _run(controller)
    assert controller.kube.calls >= 2 and _count(controller.metrics, "error") >= 2
