"""At most once on the HTTP bridges (issue 19.3): the child's identity is recorded as soon as it
exists, and a child that disappears behind the operator's back ends its attempt Failed/JobLost —
the retry is a new attempt with a new child, never the same one created again.

Against the local fakes of Lepton (over HTTP, tests/bridges/fake_lepton.py) and SkyPilot
(tests/bridges/fake_skypilot.py), the same way the rest of tests/bridges drives them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import kuberun as kr
from kuberun.resource import AttemptStatus, BackendRef, ExperimentStatus, TaskPhase, TaskStatus
from kuberun_operator.backend_config import LeptonConfig, SkypilotConfig
from kuberun_operator.backends.cloud import remote_name
from kuberun_operator.backends.lepton import LeptonBackend
from kuberun_operator.backends.skypilot import backend as skypilot_backend
from kuberun_operator.settings import Settings
from tests.bridges.fake_skypilot import FakeSkypilot
from tests.bridges.helpers import submit, task_status
from tests.bridges.test_lepton import LEPTON, config_file, fake, operator, token_file  # noqa: F401 (fixtures)
from tests.helpers.operator import phase, wait_for

pytestmark = pytest.mark.usefixtures("crd")
KEY = "uid-t-1"


def _resource(executor: Any, uid: str | None) -> Any:
    exp = kr.Experiment("lost", namespace="ns")
    exp.add(kr.Script(command=["true"]), name="t", executor=executor)
    resource, _ = exp.build()
    resource.metadata.uid = "uid"  # KEY is what identity.idempotency_key computes from it
    ref = BackendRef(backend=resource.spec.tasks[0].executor.backend, idempotency_key=KEY, uid=uid)
    resource.status = ExperimentStatus(phase="Running", tasks=[TaskStatus(name="t", phase=TaskPhase.RUNNING, attempt=1, attempts=[
        AttemptStatus(attempt=1, phase=TaskPhase.RUNNING, backend_ref=ref)])])
    return resource


# -- Lepton ----------------------------------------------------------------------------------------


def test_lepton_records_the_job_at_submit_and_reports_a_vanished_one_lost(fake, token_file):  # noqa: F811
    backend = LeptonBackend(LeptonConfig.model_validate({"workspaces": [{"name": "ws", "url": fake.url,
                                                                          "tokenFile": str(token_file),
                                                                          "allowedNamespaces": ["ns"], "allowedSecrets": ["hf"]}]}), Settings())

    async def scenario() -> tuple[Any, Any, Any]:
        await backend.start()
        try:
            resource = _resource(LEPTON, None)
            submitted = await backend.submit(resource, resource.spec.tasks[0], 1, resource.status.tasks[0].attempts[0].backend_ref)
            seen = (await backend.observe(_resource(LEPTON, submitted.uid)))[("t", 1)]
            fake.jobs.clear()  # deleted at Lepton, outside kuberun
            gone = (await backend.observe(_resource(LEPTON, submitted.uid))).get(("t", 1))
            never = (await backend.observe(_resource(LEPTON, None))).get(("t", 1))
            return submitted, (seen, gone), never
        finally:
            await backend.stop()

    submitted, (seen, gone), never = asyncio.run(scenario())
    assert submitted.uid == remote_name(KEY) and seen.backend_uid == submitted.uid
    assert (gone.state, gone.reason) == ("lost", "JobLost") and remote_name(KEY) in gone.message
    assert never is None  # nothing recorded as created: the idempotent submit is still the way


def test_a_lepton_job_deleted_behind_the_operator_s_back_is_lost_and_retried_as_a_new_attempt(
        operator, fake, kubeconfig, k8s_api_client, namespace):  # noqa: F811
    name = submit(kubeconfig, namespace, LEPTON, retries=1, backoff_seconds=0)
    (first,) = wait_for(lambda: list(fake.jobs), what="attempt 1's Lepton job")
    fake.set_state(first, "Running", active=1)
    wait_for(lambda: (task_status(k8s_api_client, namespace, name).get("attempts") or [{}])[0]
             .get("backendRef", {}).get("uid") == first, what="attempt 1's job recorded")
    fake.jobs.pop(first)
    (second,) = wait_for(lambda: [j for j in fake.jobs if j != first], what="attempt 2's job")
    fake.set_state(second, "Completed", succeeded=1)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", what="Succeeded")
    attempts = task_status(k8s_api_client, namespace, name)["attempts"]
    one = attempts[0]
    assert (one["attempt"], one["phase"], one.get("reason")) == (1, "Failed", "JobLost")
    assert attempts[1]["phase"] == "Succeeded" and fake.creates() == 2  # attempt 1's job never created again


# -- SkyPilot --------------------------------------------------------------------------------------


def test_skypilot_records_the_queued_job_and_reports_one_that_left_the_queue_lost() -> None:
    api = FakeSkypilot()
    backend = skypilot_backend.SkypilotBackend(SkypilotConfig(endpoint="http://127.0.0.1:9", allowedNamespaces=["*"], allowedClusters=["*"]), Settings(), api=api)
    sky = kr.SkypilotExecutor(cpus=2)

    async def scenario() -> tuple[Any, ...]:
        resource = _resource(sky, None)
        ref = resource.status.tasks[0].attempts[0].backend_ref
        launched = await backend.submit(resource, resource.spec.tasks[0], 1, ref)
        api.finish_provisioning()
        queued = (await backend.observe(_resource(sky, None)))[("t", 1)]
        again = await backend.submit(resource, resource.spec.tasks[0], 1, ref)  # e.g. after a restart: found
        api.jobs.clear()  # the job left the queue (cancelled and purged, its controller torn down)
        gone = (await backend.observe(_resource(sky, queued.backend_uid))).get(("t", 1))
        return launched, queued, again, gone

    launched, queued, again, gone = asyncio.run(scenario())
    assert launched.uid is None  # a launch request is not a job yet
    assert queued.backend_uid == "job:1" and (again.id, again.uid) == ("job:1", "job:1") and len(api.launched) == 1
    assert (gone.state, gone.reason) == ("lost", "JobLost") and "job:1" in gone.message
