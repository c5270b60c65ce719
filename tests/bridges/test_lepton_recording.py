"""A Lepton attempt's log (every replica's) is copied by the operator when the attempt ends, through
the bridge's own log stream, into the log store, and named in the attempt's status — the job can be
archived or deleted on Lepton afterwards. Against the fake Lepton API on loopback."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from tests.bridges.fake_lepton import FakeLepton, serving
from tests.bridges.helpers import submit, task_status, write_config
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
