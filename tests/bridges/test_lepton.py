"""The Lepton bridge against a local Lepton API (tests/bridges/fake_lepton.py) on 127.0.0.1.

Two kinds of evidence: the REAL leptonai 0.47.1 SDK (its own venv, .ci/install-lepton-sdk.sh)
talks to the fake and validates the job body the bridge builds — so the fake and the bridge
speak the SDK's shapes; then the real operator drives the bridge through the shared scenarios.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.resource import BackendRef, ExperimentStatus, results
from kuberun_operator.backend_config import LeptonConfig
from kuberun_operator.backends.cloud import remote_name
from kuberun_operator.backends.lepton import LeptonBackend, build_job
from kuberun_operator.settings import Settings
from tests.bridges.fake_lepton import FakeLepton, serving
from tests.bridges.helpers import event_reasons, run_in, submit, task_status, tool_python, write_config
from tests.fixtures import tasks
from tests.helpers.operator import get_experiment, phase, running_operator, wait_for

pytestmark = pytest.mark.usefixtures("crd")
LEPTON = kr.LeptonExecutor(resource_shape="cpu.small", image="ghcr.io/kuberun/task:1", env={"A": "1"},
                           secret_env=[{"name": "HF_TOKEN", "secret": "hf"}])


@pytest.fixture()
def fake() -> Any:
    with serving(FakeLepton()) as server:
        yield server


@pytest.fixture()
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("good-token\n")
    return path


@pytest.fixture()
def config_file(tmp_path: Path, fake: FakeLepton, token_file: Path) -> Path:
    # The grants an admin writes: every test namespace, and the one secret the tasks read.
    workspace = {"name": "ws", "url": fake.url, "tokenFile": str(token_file), "allowedNamespaces": ["*"],
                 "allowedSecrets": ["hf"]}
    return write_config(tmp_path / "backends.yaml", {"lepton": {"workspaces": [workspace], "pollIntervalSeconds": 0.2}})


@pytest.fixture()
def operator(kubeconfig: Path, config_file: Path) -> Any:
    with running_operator(kubeconfig, config_file=config_file) as metrics:
        yield metrics


def _job(fake: FakeLepton) -> dict[str, Any]:
    (job,) = wait_for(lambda: list(fake.jobs.values()), what="a Lepton job")
    return job


def _body() -> dict[str, Any]:
    exp = kr.Experiment("body", namespace="ns")
    exp.add(kr.Partial(tasks.add, a=1), name="train", executor=LEPTON.model_copy(update={
        "replicas": 2, "launcher": "torchrun", "max_restarts": 2, "shared_memory_size": 32768, "node_reservation": "res-a-1",
        "image_pull_secrets": ["ngc-team-a"]}))
    resource, _ = exp.build()
    ref = BackendRef(backend="lepton", idempotency_key="0b9f0d8e-uid-train-1")
    return build_job(resource, resource.spec.tasks[0], 1, ref, "default:image")


# -- the real SDK --------------------------------------------------------------------------------------


def test_real_leptonai_sdk_creates_lists_logs_and_deletes_against_the_fake(fake):
    python = tool_python("lepton-venv-0.47.1", ".ci/install-lepton-sdk.sh")
    marked = f'{results.LOG_SUMMARY_MARK}{{"format":"{results.SUMMARY_FORMAT}","result":"3","metrics":{{}}}}\n'
    fake.logs[("sdk-job", "sdk-job-0")] = "hello from replica 0\n" + marked  # as the runner ends it (the log route)
    done = run_in(python, """
        import json, os
        from leptonai.api.v2.client import APIClient
        from leptonai.api.v2.types.common import Metadata
        from leptonai.api.v2.types.deployment import LeptonContainer
        from leptonai.api.v2.types.job import LeptonJob, LeptonJobUserSpec
        client = APIClient(workspace_id="ws", auth_token="good-token", url=os.environ["URL"])
        spec = LeptonJobUserSpec(resource_shape="cpu.small", container=LeptonContainer(image="i", command=["true"]))
        client.job.create(LeptonJob(metadata=Metadata(id="sdk-job", name="sdk-job", labels={"team": "a"}), spec=spec))
        got = client.job.get("sdk-job")
        listed = [j.metadata.id_ for j in client.job.list_all()]
        replicas = client.job.get_replicas("sdk-job")
        log = "".join(client.job.get_log("sdk-job", replicas[0]))
        client.job.delete("sdk-job")
        try:
            client.job.create(LeptonJob(metadata=Metadata(id="slash", labels={"a/b": "c"}), spec=spec))
            slash = "accepted"
        except ValueError as exc:
            slash = str(exc)
        print(json.dumps({"state": got.status.state.value, "listed": listed, "log": log, "slash": slash}))
    """, URL=fake.url)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["state"] == "Starting" and out["listed"] == ["sdk-job"] and out["log"] == "hello from replica 0\n" + marked
    summary = results.parse_summary(results.summary_in_log(out["log"].splitlines()))  # what the SDK reads, parsed back
    assert summary is not None and summary.result == "3"
    assert "Label key" in out["slash"] and fake.jobs == {}


def test_the_job_the_bridge_builds_is_a_valid_leptonjob_for_the_real_sdk():
    python = tool_python("lepton-venv-0.47.1", ".ci/install-lepton-sdk.sh")
    body = _body()
    done = run_in(python, """
        import json, os
        from leptonai.api.v2.job_validation import validate_job_create
        from leptonai.api.v2.types.job import LeptonJob
        body = json.loads(os.environ["BODY"])
        job = LeptonJob(**body)
        validate_job_create(job)
        print(json.dumps(job.dict(exclude_none=True, by_alias=True)))
    """, BODY=json.dumps(body))
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    # The SDK's model keeps every field the bridge sends, unchanged (it drops unknown ones silently).
    assert parsed["metadata"] == {k: v for k, v in body["metadata"].items()}
    assert {k: parsed["spec"][k] for k in body["spec"]} == body["spec"]


def test_job_body_carries_the_task_the_key_and_torchrun_wiring():
    body = _body()
    assert body["metadata"]["id"] == remote_name("0b9f0d8e-uid-train-1") and len(body["metadata"]["id"]) <= 36
    assert body["metadata"]["labels"]["kuberun-key"] == "0b9f0d8e-uid-train-1"
    env = {e["name"]: e for e in body["spec"]["envs"]}
    doc = json.loads(base64.b64decode(env["KUBERUN_TASK_B64"]["value"]))
    assert doc["name"] == "train" and "fiddle" in doc
    assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "value_from": {"secret_name_ref": "hf"}}
    assert body["spec"]["completions"] == body["spec"]["parallelism"] == 2 and body["spec"]["intra_job_communication"]
    assert "torchrun --nnodes 2" in body["spec"]["container"]["command"][-1]
    assert "--max-restarts 2 -m kuberun.runner" in body["spec"]["container"]["command"][-1]  # torchrun restarts (FaultTolerance)
    assert "restarts" not in doc  # ... so the runner under it does not restart on its own
    assert (body["spec"]["shared_memory_size"], body["spec"]["reservation_config"], body["spec"]["image_pull_secrets"]) \
        == (32768, {"reservation_id": "res-a-1"}, ["ngc-team-a"])


# -- the bridge through the operator ----------------------------------------------------------------------


def test_submit_observe_to_success_records_the_lepton_job(operator, fake, kubeconfig, k8s_api_client, namespace):
    name = submit(kubeconfig, namespace, LEPTON)
    job = _job(fake)
    fake.set_state(job["metadata"]["id"], "Running", active=1)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Running", what="Running")
    fake.set_state(job["metadata"]["id"], "Completed", succeeded=1)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", what="Succeeded")
    (attempt,) = task_status(k8s_api_client, namespace, name)["attempts"]
    uid = get_experiment(k8s_api_client, namespace, name)["metadata"]["uid"]
    assert attempt["backendRef"]["id"] == job["metadata"]["id"] == remote_name(f"{uid}-t-1")
    assert attempt["logRef"] == {"kind": "lepton", "path": f"ws/{job['metadata']['id']}"} and attempt["exitCode"] == 0
    assert job["metadata"]["labels"]["kuberun-key"] == f"{uid}-t-1" and fake.creates() == 1


def test_failed_job_fails_the_task_and_a_retry_is_a_new_job(operator, fake, kubeconfig, k8s_api_client, namespace):
    name = submit(kubeconfig, namespace, LEPTON, retries=1, backoff_seconds=0)
    first = _job(fake)["metadata"]["id"]
    fake.set_state(first, "Failed", failed=1)
    wait_for(lambda: len(fake.jobs) == 2, what="the retry's job")
    second = next(j for j in fake.jobs if j != first)
    fake.set_state(second, "Failed", failed=1)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", what="Failed")
    attempts = task_status(k8s_api_client, namespace, name)["attempts"]
    assert [(a["phase"], a["reason"]) for a in attempts] == [("Failed", "LeptonJobFailed")] * 2


def test_terminate_deletes_the_lepton_job(operator, fake, kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    name = submit(kubeconfig, namespace, LEPTON)
    fake.set_state(_job(fake)["metadata"]["id"], "Running")
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Running")
    client.CustomObjectsApi(k8s_api_client).patch_namespaced_custom_object(
        "kuberun.dev", "v1alpha1", namespace, "experiments", name, {"spec": {"shutdown": "Terminate"}})
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Cancelled", what="Cancelled")
    wait_for(lambda: not fake.jobs, what="job deleted at Lepton")


def test_operator_restart_finds_the_job_instead_of_creating_another(fake, config_file, kubeconfig, k8s_api_client, namespace):
    with running_operator(kubeconfig, config_file=config_file):
        name = submit(kubeconfig, namespace, LEPTON)
        job = _job(fake)
    with running_operator(kubeconfig, config_file=config_file):
        fake.set_state(job["metadata"]["id"], "Completed", succeeded=1)
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded")
    assert fake.creates() == 1


def test_submit_twice_under_one_key_creates_one_job(fake, token_file):
    backend = LeptonBackend(LeptonConfig.model_validate({"workspaces": [{"name": "ws", "url": fake.url,
                                                                          "tokenFile": str(token_file),
                                                                          "allowedNamespaces": ["ns"], "allowedSecrets": ["hf"]}]}),
                          Settings())
    exp = kr.Experiment("twice", namespace="ns")
    exp.add(kr.Script(command=["true"]), name="t", executor=LEPTON)
    resource, _ = exp.build()
    ref = BackendRef(backend="lepton", idempotency_key="uid-t-1")

    async def twice() -> list[str]:
        await backend.start()
        try:
            return [(await backend.submit(resource, resource.spec.tasks[0], 1, ref)).id for _ in range(2)]
        finally:
            await backend.stop()

    assert len(set(asyncio.run(twice()))) == 1 and fake.creates() == 1


def test_logs_stream_every_replica_and_tail_keeps_the_last_lines(fake, token_file):
    backend = LeptonBackend(LeptonConfig.model_validate({"workspaces": [{"name": "ws", "url": fake.url,
                                                                          "tokenFile": str(token_file),
                                                                          "allowedNamespaces": ["ns"], "allowedSecrets": ["hf"]}]}),
                          Settings())
    exp = kr.Experiment("logs", namespace="ns")
    exp.add(kr.Script(command=["true"]), name="t", executor=LEPTON.model_copy(update={"replicas": 2}))
    resource, _ = exp.build()
    resource.metadata.uid = "uid"
    ref = BackendRef(backend="lepton", idempotency_key="uid-t-1")
    # Status is not where the log is looked up: a logRef naming another job is never read.
    tampered = resource.model_copy(update={"status": ExperimentStatus.model_validate({"phase": "Running", "tasks": [{"name": "t", "phase": "Running", "attempt": 1, "attempts": [
        {"attempt": 1, "phase": "Running", "logRef": {"kind": "lepton", "path": "ws/someone-elses-job"}}]}]})})

    async def read(tail: int | None) -> bytes:
        await backend.start()
        try:
            submitted = await backend.submit(resource, resource.spec.tasks[0], 1, ref)
            for i in range(2):
                fake.logs[(submitted.id, f"{submitted.id}-{i}")] = f"r{i} one\nr{i} two\n"
            return b"".join([c async for c in backend.logs(tampered, "t", 1, follow=False, tail=tail)])
        finally:
            await backend.stop()

    assert asyncio.run(read(None)) == b"r0 one\nr0 two\nr1 one\nr1 two\n"
    assert asyncio.run(read(1)) == b"r0 two\nr1 two\n"


def test_bad_token_is_a_warning_until_the_secret_is_fixed(operator, fake, token_file, kubeconfig, k8s_api_client, namespace):
    token_file.write_text("stale-token")
    name = submit(kubeconfig, namespace, LEPTON)
    wait_for(lambda: "BadCredentials" in event_reasons(k8s_api_client, namespace), what="BadCredentials event")
    assert task_status(k8s_api_client, namespace, name)["phase"] == "Submitted" and not fake.jobs
    token_file.write_text("good-token")  # the rotated Secret is read on the next call
    fake.set_state(_job(fake)["metadata"]["id"], "Completed", succeeded=1)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded")


def test_quota_exhausted_429_is_retried_not_failed(operator, fake, kubeconfig, k8s_api_client, namespace):
    fake.fail_next(429, "too many requests", times=3)
    name = submit(kubeconfig, namespace, LEPTON)
    wait_for(lambda: "CapacityUnavailable" in event_reasons(k8s_api_client, namespace), what="CapacityUnavailable event")
    fake.set_state(_job(fake)["metadata"]["id"], "Completed", succeeded=1)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded")
    assert fake.creates() == 1


def test_job_lepton_rejects_fails_the_task_with_submission_rejected(operator, fake, kubeconfig, k8s_api_client, namespace):
    name = submit(kubeconfig, namespace, LEPTON.model_copy(update={"resource_shape": ""}))
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", what="Failed")
    task = task_status(k8s_api_client, namespace, name)
    assert task["reason"] == "SubmissionRejected" and "resource_shape" in task["message"] and not fake.jobs
