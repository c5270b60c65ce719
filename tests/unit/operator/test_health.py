"""/healthz and /readyz over HTTP on loopback reflect real health: the kopf task and the
controller's tasks alive; ready only once kopf finished starting and the first list succeeded."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from dataclasses import replace

from kuberun_operator.health import checks
from kuberun_operator.metrics import Metrics, serve
from tests.helpers.controller import SETTINGS, harness


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def _probe(port: int) -> tuple[tuple[int, str], tuple[int, str]]:
    return await asyncio.to_thread(_get, port, "/healthz"), await asyncio.to_thread(_get, port, "/readyz")


async def test_health_and_readiness_follow_kopf_and_the_controller():
    h = harness()
    h.controller.settings = replace(SETTINGS, resync_seconds=30)
    gate = asyncio.Event()  # holds the first list until the test lets it through
    listing = h.kube.list_experiments

    async def slow_list(namespace=None):
        await gate.wait()
        return await listing(namespace)

    h.kube.list_experiments = slow_list  # type: ignore[method-assign]
    kopf_ready = asyncio.Event()
    kopf_task = asyncio.create_task(asyncio.Event().wait())  # stands in for kopf.operator
    metrics, port = Metrics(), _free_port()
    metrics.liveness, metrics.readiness = checks(kopf_task, kopf_ready, h.controller)
    runner = await serve(metrics, port, host="127.0.0.1")
    try:
        (live, ready) = await _probe(port)
        assert live == (503, "the controller has not started") and ready[0] == 503
        await h.controller.start()
        (live, ready) = await _probe(port)
        assert live == (200, "ok") and ready == (503, "kopf has not finished starting")
        kopf_ready.set()
        (_, ready) = await _probe(port)
        assert ready == (503, "the first list of Experiments has not succeeded yet")
        gate.set()
        for _ in range(100):  # bounded
            if h.controller.synced:
                break
            await asyncio.sleep(0.01)
        assert await _probe(port) == ((200, "ok"), (200, "ready"))
        h.controller._workers[0].cancel()  # a worker dies
        await asyncio.sleep(0)
        (live, ready) = await _probe(port)
        assert live[0] == 503 and "kuberun-worker-0" in live[1] and ready[0] == 503
    finally:
        await h.controller.stop()
        kopf_task.cancel()
        await runner.cleanup()


async def test_a_stopped_kopf_task_is_unhealthy():
    h = harness()
    await h.controller.start()
    kopf_task = asyncio.create_task(asyncio.sleep(0))
    await kopf_task
    live, ready = checks(kopf_task, asyncio.Event(), h.controller)
    try:
        assert live() == (False, "the kopf operator task has stopped") and ready()[0] is False
    finally:
        await h.controller.stop()
