"""A Lepton attempt's log (every replica's) is copied by the operator when the attempt ends, through
the bridge's own log stream, into the log store, and named in the attempt's status — the job can be
archived or deleted on Lepton afterwards. Against the fake Lepton API on loopback."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.resource import results
from tests.bridges.fake_lepton import FakeLepton, serving
from tests.bridges.helpers import runner_output, submit, task_status, write_config
from tests.fixtures import tasks
from tests.helpers.operator import phase, running_operator, wait_for

pytestmark = pytest.mark.usefixtures("crd")
LEPTON = kr.LeptonExecutor(resource_shape="cpu.small", image="ghcr.io/kuberun/task:1", replicas=2)


@pytest.fixture()
def fake() -> Any:
    with serving(FakeLepton()) as server:
        yield server


@pytest.fixture()
def operator(kubeconfig: Path, tmp_path: Path, fake: FakeLepton) -> Any:
    token = tmp_path / "token"
    token.write_text("good-token\n")
    config = write_config(tmp_path / "backends.yaml", {"lepton": {"workspaces": [
        {"name": "ws", "url": fake.url, "tokenFile": str(token), "allowedNamespaces": ["*"]}], "pollIntervalSeconds": 0.2}})
    with running_operator(kubeconfig, config_file=config, log_store_url=str(tmp_path / "logs")) as metrics:
        yield metrics


def test_an_ended_lepton_attempt_s_replica_logs_are_archived(operator, fake, kubeconfig, k8s_api_client, namespace, tmp_path):
    name = submit(kubeconfig, namespace, LEPTON)
    (job,) = wait_for(lambda: list(fake.jobs.values()), what="a Lepton job")
    job_id = job["metadata"]["id"]
    for i in range(2):
        fake.logs[(job_id, f"{job_id}-{i}")] = f"replica {i} step 1\nreplica {i} done\n"
    fake.set_state(job_id, "Completed", succeeded=2)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", what="Succeeded")
    attempt = wait_for(lambda: (a := task_status(k8s_api_client, namespace, name)["attempts"][0]).get("archivedLog") and a,
                       what="the archived log in the attempt's status")
    copy = Path(urllib.parse.urlsplit(attempt["archivedLog"]["url"]).path)
    assert copy.is_relative_to(tmp_path / "logs")
    assert copy.read_text() == "replica 0 step 1\nreplica 0 done\nreplica 1 step 1\nreplica 1 done\n"


def test_a_lepton_attempt_s_result_metrics_and_series_come_back_through_its_log(operator, fake, kubeconfig, k8s_api_client,
                                                                                 namespace, tmp_path):
    """Lepton has no file route back, only the log: the real runner, run with the job's own environment,
    prints its series and summary as marked lines; the bridge reads the summary from the log's tail into
    status, and the log copy leaves the series beside the log (once, though both replicas print it)."""
    name = submit(kubeconfig, namespace, LEPTON, kr.Partial(tasks.report, steps=5, result={"best": 0.2}))
    (job,) = wait_for(lambda: list(fake.jobs.values()), what="a Lepton job")
    job_id = job["metadata"]["id"]
    env = {e["name"]: e["value"] for e in job["spec"]["envs"] if "value" in e}
    assert env[results.LOG_MARKS_ENV] == "1"
    for i in range(2):  # each replica runs the runner (no torchrun): both logs end with the marks
        fake.logs[(job_id, f"{job_id}-{i}")] = runner_output(env)
    assert results.LOG_SUMMARY_MARK in fake.logs[(job_id, f"{job_id}-0")]
    fake.set_state(job_id, "Completed", succeeded=2)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", what="Succeeded")
    attempt = wait_for(lambda: (a := task_status(k8s_api_client, namespace, name)["attempts"][0]).get("archivedLog") and a,
                       what="the archived log in the attempt's status")
    assert json.loads(attempt["result"]) == {"best": 0.2}
    assert attempt["metrics"]["loss"] == {"value": 0.2, "step": 4} and attempt["metrics"]["acc"] == {"value": 0.4, "step": 4}
    assert attempt["metrics"]["diverged"]["special"] == "NaN"
    series = Path(urllib.parse.urlsplit(attempt["archivedLog"]["url"]).path).parent / results.METRICS_FILE
    points = [json.loads(line) for line in series.read_text().splitlines()]
    assert [(p["name"], p["step"]) for p in points if p["name"] == "loss"] == [("loss", s) for s in range(5)]
    assert len(points) == 11  # loss and acc at 5 steps and one 'diverged': replica 1's repeat not taken


def test_a_lepton_attempt_restarts_its_task_in_job_and_the_restarts_reach_the_record(operator, fake, kubeconfig,
                                                                                    k8s_api_client, namespace):
    """kr.FaultTolerance on one replica: the job runs the runner, which restarts the failed task in the
    same job (no new attempt); the last generation's summary, read from the log, carries the count."""
    from kuberun_operator.backends.cloud import RUNNER

    name = submit(kubeconfig, namespace, kr.LeptonExecutor(resource_shape="cpu.small", image="ghcr.io/kuberun/task:1",
                                                           launcher=kr.FaultTolerance(max_restarts=2)),
                  kr.Partial(tasks.fail_until_restart, restarts=1), retries=0)
    (job,) = wait_for(lambda: list(fake.jobs.values()), what="a Lepton job")
    job_id = job["metadata"]["id"]
    assert job["spec"]["container"]["command"] == RUNNER
    env = {e["name"]: e["value"] for e in job["spec"]["envs"] if "value" in e}
    log = fake.logs[(job_id, f"{job_id}-0")] = runner_output(env)
    assert "generation 0" in log and "in-job restart 1 of 2" in log and "generation 1" in log
    fake.set_state(job_id, "Completed", succeeded=1)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", what="Succeeded")
    attempts = wait_for(lambda: (a := task_status(k8s_api_client, namespace, name)["attempts"]) and "restarts" in a[0] and a,
                        what="the restart count in the attempt's status")
    assert len(attempts) == 1 and attempts[0]["restarts"] == 1 and attempts[0]["result"] == "1"
