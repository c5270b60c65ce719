"""The controller's handling of remote backends: finalizer first, polling, cancel on delete.

Drives a real `Controller` (no kopf) against the API emulator with a recording fake backend, so
the finalizer protocol is proven independently of any particular bridge.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import kuberun as kr
from kuberun.resource.constants import GROUP, PLURAL, VERSION
from kuberun_operator.actions import Observed
from kuberun_operator.backends.base import Submitted
from kuberun_operator.connection import api_client
from kuberun_operator.controller import REMOTE_FINALIZER, Controller
from kuberun_operator.kube import Kube
from kuberun_operator.settings import Settings

pytestmark = pytest.mark.usefixtures("crd")


class FakeRemote:
    name, finalizer, poll_interval = "slurm", REMOTE_FINALIZER, 0.2

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.state = "running"

    async def submit(self, exp: Any, task: Any, attempt: int, ref: Any) -> Submitted:
        self.submitted.append(ref.idempotency_key)
        return Submitted(id=f"job-{len(self.submitted)}")

    async def observe(self, exp: Any) -> dict[tuple[str, int], Observed]:
        return {(t.name, a.attempt): Observed(self.state, backend_id="job-1")
                for t in (exp.status.tasks if exp.status else []) for a in t.attempts
                if a.backend_ref and a.backend_ref.idempotency_key in self.submitted}

    async def cancel(self, exp: Any, task: Any, attempt: int, ref: Any) -> None:
        self.cancelled.append(ref.idempotency_key)

    async def suspend(self, *args: Any) -> None:
        return None


def _get(api: Any, ns: str, name: str) -> dict[str, Any] | None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        return client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def _settle(controller: Controller, api: Any, ns: str, name: str, rounds: int = 6) -> None:
    for _ in range(rounds):
        body = await asyncio.to_thread(_get, api, ns, name)
        if body is None:
            return
        controller.experiment_seen(body)
        await controller.reconcile_key((ns, name))


async def test_remote_tasks_get_a_finalizer_before_submission_and_deletion_cancels_them(kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    exp = kr.Experiment("remote", namespace=namespace)
    exp.add(kr.Script(command=["true"]), name="t", executor=kr.SlurmExecutor(cluster="c"))
    name = (await asyncio.to_thread(exp.run, kubeconfig=str(kubeconfig)))["metadata"]["name"]

    fake = FakeRemote()
    settings = Settings(kubeconfig=kubeconfig)

    async def no_events(*_: Any) -> None:
        return None

    controller = Controller(settings, Kube(api_client(settings)), {"slurm": fake}, no_events)
    body = await asyncio.to_thread(_get, k8s_api_client, namespace, name)
    controller.experiment_seen(body)
    await controller.reconcile_key((namespace, name))
    assert fake.submitted == []  # the finalizer comes first
    await _settle(controller, k8s_api_client, namespace, name, rounds=1)
    recorded = (await asyncio.to_thread(_get, k8s_api_client, namespace, name))["status"]["tasks"][0]["attempts"]
    assert fake.submitted == [] and recorded[0]["backendRef"]["idempotencyKey"].endswith("-t-1")  # key recorded first
    await _settle(controller, k8s_api_client, namespace, name)
    stored = await asyncio.to_thread(_get, k8s_api_client, namespace, name)
    assert REMOTE_FINALIZER in stored["metadata"]["finalizers"]
    assert fake.submitted == [f"{stored['metadata']['uid']}-t-1"]
    assert stored["status"]["tasks"][0]["phase"] == "Running"

    await asyncio.to_thread(client.CustomObjectsApi(k8s_api_client).delete_namespaced_custom_object,
                            GROUP, VERSION, namespace, PLURAL, name)
    await _settle(controller, k8s_api_client, namespace, name)
    assert fake.cancelled == fake.submitted
    assert await asyncio.to_thread(_get, k8s_api_client, namespace, name) is None
    await controller.stop()
