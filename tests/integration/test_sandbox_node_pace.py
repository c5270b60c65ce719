"""The sandbox node's Job controller keeps pace (issue 12): how it decides when to reconcile.

Timings are bench/node.py's business; these tests assert the mechanisms, in process, against the
emulator over HTTP: a Job is reconciled only when something it counts changed (not on the echo of
its own status write, not on the kubelet's Pending write), one slow Job does not hold the others
back, and a Job deleted mid-reconcile is no error.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import pathlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from kuberun_sandbox.apiserver import ApiServer
from kuberun_sandbox.node import SandboxNode
from kuberun_sandbox.rest import KubeError, Rest, path

NS = "default"
_ADMIN_TOKENS: dict[str, str] = {}  # server URL -> a system:masters token the test's own clients use
JOBS = path("batch", "v1", "jobs", NS)


def _job(name: str, code: str = "pass") -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11", "command": [sys.executable, "-c", code]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}


@asynccontextmanager
async def _node(tmp_path: pathlib.Path) -> AsyncIterator[SandboxNode]:
    server = ApiServer()
    await server.start("127.0.0.1", 0)
    # An administrator's token, not the node's own role: the tests also create Jobs through node.rest.
    token = server.auth.mint("test-node", ("system:masters",))
    _ADMIN_TOKENS[server.url] = token
    node = SandboxNode(server.url, tmp_path / "node", token=token)
    try:
        await node.start()
        yield node
    finally:
        await node.stop()
        await server.stop()


async def _finished(node: SandboxNode, name: str, timeout: float = 30.0) -> str:
    """Poll with a client of the test's own (the node's requests are what some tests count)."""
    async def poll() -> str:
        async with Rest(node.rest.url, _ADMIN_TOKENS[node.rest.url]) as rest:
            return await _poll(rest)

    async def _poll(rest: Rest) -> str:
        while True:
            job = await rest.get(f"{JOBS}/{name}")
            for cond in (job.get("status") or {}).get("conditions") or []:
                if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
                    return str(cond["type"])
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


def _wrap(node: SandboxNode, before: Callable[[str, str], Awaitable[None]]) -> None:
    """Run ``before(method, path)`` ahead of every request the node makes."""
    real = node.rest.request

    async def request(method: str, url_path: str, *args: Any, **kwargs: Any) -> Any:
        await before(method, url_path)
        return await real(method, url_path, *args, **kwargs)

    node.rest.request = request  # type: ignore[method-assign]


def test_a_job_is_reconciled_only_when_what_it_counts_changes(tmp_path: pathlib.Path) -> None:
    reconciles: collections.Counter[str] = collections.Counter()
    reads: collections.Counter[str] = collections.Counter()

    async def count(method: str, url_path: str) -> None:
        if (method == "GET" and url_path.startswith(JOBS + "/")) or url_path.startswith(path("", "v1", "pods", NS)):
            reads[f"{method} {url_path}"] += 1

    async def scenario() -> None:
        async with _node(tmp_path) as node:
            real = node._reconcile

            async def counted(namespace: str, name: str) -> None:
                reconciles[name] += 1
                await real(namespace, name)

            node._reconcile = counted  # type: ignore[method-assign]
            _wrap(node, count)
            await node.rest.request("POST", JOBS, _job("once"))
            assert await _finished(node, "once") == "Complete"
            await asyncio.sleep(0.5)  # any late echo would be counted too

    asyncio.run(scenario())
    # Job ADDED, pod created (active 1), pod Running (ready 1), pod Succeeded (Complete): four
    # decisions. Reconciling on the echoes of its own three status writes, and on the kubelet's
    # Pending write, made it eight.
    assert reconciles["once"] == 4, reconciles
    # Each decision reads the Job and its pods from the watch cache (informer.py), not the API:
    # the only pod requests are the pod's create and the kubelet's two status writes.
    assert not [r for r in reads if r.startswith("GET")], reads
    assert sum(reads.values()) == 3, reads


def test_a_slow_job_does_not_hold_the_others_back(tmp_path: pathlib.Path) -> None:
    release = asyncio.Event()

    async def stall(method: str, url_path: str) -> None:
        if url_path.startswith(f"{JOBS}/stuck"):
            await release.wait()  # a reconcile stuck on a slow answer (its status write)

    async def scenario() -> None:
        nonlocal release
        release = asyncio.Event()
        async with _node(tmp_path) as node:
            _wrap(node, stall)
            await node.rest.request("POST", JOBS, _job("stuck"))
            await asyncio.sleep(0.2)
            await node.rest.request("POST", JOBS, _job("free"))
            try:
                assert await _finished(node, "free") == "Complete"
            finally:
                release.set()
            assert await _finished(node, "stuck") == "Complete"

    asyncio.run(scenario())


def test_a_job_deleted_mid_reconcile_is_no_error(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    deleted: list[str] = []

    async def scenario() -> None:
        async with _node(tmp_path) as node:
            real = node.rest.request

            async def delete_first(method: str, url_path: str) -> None:
                if method == "PUT" and url_path == f"{JOBS}/gone/status" and not deleted:
                    deleted.append(url_path)  # the Job goes between the node's read and its status write
                    await real("DELETE", f"{JOBS}/gone", {"propagationPolicy": "Background"})

            _wrap(node, delete_first)
            await node.rest.request("POST", JOBS, _job("gone", "import time; time.sleep(30)"))
            for _ in range(200):
                if deleted:
                    break
                await asyncio.sleep(0.05)
            await node.rest.request("POST", JOBS, _job("after"))
            assert await _finished(node, "after") == "Complete"  # the worker carried on
            with pytest.raises(KubeError) as gone:
                await node.rest.get(f"{JOBS}/gone")
            assert gone.value.code == 404

    with caplog.at_level(logging.DEBUG, logger="kuberun_sandbox"):
        asyncio.run(scenario())
    assert deleted, "the Job's status was never written"
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING and "gone" in r.getMessage()]
    assert not noisy and not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in noisy]


# --- kubelet behaviours (issue 19): what a pod does when what it needs is missing ----------------
async def _container_state(node: SandboxNode, job_name: str, timeout: float = 20.0) -> tuple[str, dict[str, Any]]:
    """(phase, state) of the Job's pod once its container reports a state."""
    async def poll() -> tuple[str, dict[str, Any]]:
        async with Rest(node.rest.url, _ADMIN_TOKENS[node.rest.url]) as rest:
            while True:
                pods = (await rest.get(path("", "v1", "pods", NS), labelSelector=f"job-name={job_name}"))["items"]
                for pod in pods:
                    statuses = (pod.get("status") or {}).get("containerStatuses") or []
                    if statuses and statuses[0].get("state"):
                        return pod["status"]["phase"], statuses[0]["state"]
                await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


def _with_secret_env(job: dict[str, Any], secret: str) -> dict[str, Any]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}}]
    return job


def _with_configmap_volume(job: dict[str, Any], configmap: str) -> dict[str, Any]:
    spec = job["spec"]["template"]["spec"]
    spec["volumes"] = [{"name": "cfg", "configMap": {"name": configmap}}]
    spec["containers"][0]["volumeMounts"] = [{"name": "cfg", "mountPath": "/etc/cfg"}]
    spec["containers"][0]["command"] = [sys.executable, "-c", "print(open('/etc/cfg/greeting').read())"]
    return job


def test_a_missing_secret_is_create_container_config_error(tmp_path: pathlib.Path) -> None:
    async def scenario() -> tuple[str, dict[str, Any]]:
        async with _node(tmp_path) as node:
            await node.rest.request("POST", JOBS, _with_secret_env(_job("nosecret"), "absent"))
            return await _container_state(node, "nosecret")

    phase, state = asyncio.run(scenario())
    assert phase == "Pending" and state["waiting"]["reason"] == "CreateContainerConfigError", state
    assert "absent" in state["waiting"]["message"]


def test_a_missing_configmap_volume_waits_then_runs_once_it_exists(tmp_path: pathlib.Path) -> None:
    async def scenario() -> tuple[tuple[str, dict[str, Any]], str]:
        async with _node(tmp_path) as node:
            await node.rest.request("POST", JOBS, _with_configmap_volume(_job("later"), "late"))
            waiting = await _container_state(node, "later")
            await node.rest.request("POST", path("", "v1", "configmaps", NS),
                                    {"metadata": {"name": "late"}, "data": {"greeting": "hello"}})
            return waiting, await _finished(node, "later")

    (phase, state), outcome = asyncio.run(scenario())
    assert phase == "Pending" and state["waiting"]["reason"] == "ContainerCreating", state
    assert outcome == "Complete"


def test_an_invalid_image_name_is_invalid_image_name(tmp_path: pathlib.Path) -> None:
    async def scenario() -> tuple[str, dict[str, Any]]:
        async with _node(tmp_path) as node:
            job = _job("badimage")
            job["spec"]["template"]["spec"]["containers"][0]["image"] = "Not A Valid/Image!"
            await node.rest.request("POST", JOBS, job)
            return await _container_state(node, "badimage")

    phase, state = asyncio.run(scenario())
    assert phase == "Pending" and state["waiting"]["reason"] == "InvalidImageName", state
