"""Backends granted per namespace, end to end on the sandbox API server with the chart's RBAC enforced.

The operator runs as the chart's ServiceAccount (its ClusterRoles rendered with the same grants and
applied), against a local Lepton workspace API that records every request, or a stand-in SkyPilot
API server that records every launch. So "refused" means: the attempt ``Failed`` with ``BackendNotAllowed`` and
a Warning Event, and the workspace was never asked to create a job (at most, the operator's observe looked up the
refused attempt's own job id, derived from its UID); and "granted by label" means
the operator really read the Namespace with only the rights the chart gives it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun_operator.backend_config import BackendConfig
from kuberun_operator.backends.cloud import remote_name
from kuberun_operator.identity import idempotency_key
from tests.bridges.fake_lepton import FakeLepton, serving
from tests.bridges.helpers import event_reasons, submit, task_status, write_config
from tests.helm.chart import HELM
from tests.helpers.chart_account import as_chart_service_account
from tests.helpers.operator import ensure_crd, get_experiment, phase, running_operator, wait_for

pytestmark = pytest.mark.skipif(not HELM.exists(), reason="helm is installed by .ci/install-helm.sh")
DEFAULT_TTL = BackendConfig.model_fields["namespace_label_cache_seconds"].default  # how long labels are trusted

LABEL = "kuberun.dev/lepton-ws"
SELECTOR = {"matchLabels": {LABEL: "granted"}}
EXECUTOR = kr.LeptonExecutor(resource_shape="cpu.small", image="ghcr.io/kuberun/task:1")


@pytest.fixture()
def sandbox(tmp_path: Path) -> Iterator[tuple[Any, Path, Any]]:
    from kubernetes import config

    from kuberun_sandbox.apiserver import run_in_thread
    from kuberun_sandbox.kubeconfig import write_kubeconfig

    with run_in_thread() as server:
        kubeconfig = write_kubeconfig(tmp_path / "config", server.url)
        api = config.new_client_from_config(config_file=str(kubeconfig))
        ensure_crd(api)
        yield server, kubeconfig, api


@pytest.fixture()
def fake() -> Iterator[FakeLepton]:
    with serving(FakeLepton()) as server:
        yield server


def _operator_config(tmp_path: Path, fake: FakeLepton, **grants: Any) -> Path:
    token = tmp_path / "token"
    token.write_text("good-token\n")
    workspace = {"name": "ws", "url": fake.url, "tokenFile": str(token), **grants}
    return write_config(tmp_path / "backends.yaml", {"lepton": {"workspaces": [workspace], "pollIntervalSeconds": 0.2}})


def _chart_values(**grants: Any) -> dict[str, Any]:
    return {"lepton": {"workspaces": [{"name": "ws", "url": "https://lepton.example/api/v2/workspaces/ws",
                                       "tokenSecretName": "lepton-ws", **grants}]}}


def _namespace(api: Any, labels: dict[str, str] | None = None) -> str:
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name, "labels": labels or {}}})
    return name


def _label(api: Any, namespace: str, value: str | None) -> None:
    from kubernetes import client

    client.CoreV1Api(api).patch_namespace(namespace, {"metadata": {"labels": {LABEL: value}}})


def _only_own_lookups(fake: FakeLepton, api: Any, refused: list[tuple[str, str]]) -> None:
    """Nothing but GETs of the refused attempts' own job ids reached the workspace (no create, no read of others)."""
    own = {remote_name(idempotency_key(get_experiment(api, ns, name)["metadata"]["uid"], "t", 1)) for ns, name in refused}
    assert all(method == "GET" and path.rsplit("/", 1)[-1] in own for method, path in fake.requests), fake.requests


def _refused(api: Any, namespace: str, name: str, backend: str = "Lepton workspace 'ws'") -> dict[str, Any]:
    wait_for(lambda: phase(api, namespace, name) == "Failed", 30, f"{name} Failed")
    task = task_status(api, namespace, name)
    assert task["reason"] == "BackendNotAllowed", task
    assert f"namespace {namespace!r} may not use {backend}" in task["message"]
    wait_for(lambda: "BackendNotAllowed" in event_reasons(api, namespace), 10, "a BackendNotAllowed event")
    return task


def test_labelling_a_namespace_grants_the_workspace_and_unlabelling_refuses_the_next_task(sandbox, fake, tmp_path):
    server, kubeconfig, api = sandbox
    operator_kubeconfig = as_chart_service_account(server, api, tmp_path, _chart_values(allowedNamespaceSelector=SELECTOR))
    config_file = _operator_config(tmp_path, fake, allowedNamespaceSelector=SELECTOR)
    ns = _namespace(api)
    with running_operator(operator_kubeconfig, config_file=config_file):
        before = submit(kubeconfig, ns, EXECUTOR)
        task = _refused(api, ns, before)
        assert "its labels do not match allowedNamespaceSelector (kuberun.dev/lepton-ws=granted)" in task["message"]
        assert fake.creates() == 0
        _only_own_lookups(fake, api, [(ns, before)])

        _label(api, ns, "granted")
        time.sleep(DEFAULT_TTL + 0.5)  # the labels read for the refusal are cached this long
        granted = submit(kubeconfig, ns, EXECUTOR)
        wait_for(lambda: fake.creates() == 1, 30, "the labelled namespace's job created")
        (job,) = fake.jobs.values()
        fake.set_state(job["metadata"]["id"], "Completed", succeeded=1)
        wait_for(lambda: phase(api, ns, granted) == "Succeeded", 30, "the granted task Succeeded")

        _label(api, ns, None)  # removed
        time.sleep(DEFAULT_TTL + 0.5)
        after = submit(kubeconfig, ns, EXECUTOR)
        _refused(api, ns, after)
        assert fake.creates() == 1  # the refused task created nothing
    refused = [r for r in server.request_log if r.code == 403 and r.resource == "namespaces"]
    assert refused == [], "the chart's RBAC let the operator read the Namespace"
    assert any(r.resource == "namespaces" and r.verb == "get" for r in server.request_log)


def test_a_namespace_not_granted_or_a_secret_not_allow_listed_is_refused_with_nothing_sent(sandbox, fake, tmp_path):
    server, kubeconfig, api = sandbox
    values = {"allowedNamespaces": ["team-a-*"], "allowedSecrets": ["hf-*"]}
    operator_kubeconfig = as_chart_service_account(server, api, tmp_path, _chart_values(**values))
    config_file = _operator_config(tmp_path, fake, **values)
    stranger = _namespace(api, {LABEL: "granted"})  # labels grant nothing without a selector
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": "team-a-x"}})
    with running_operator(operator_kubeconfig, config_file=config_file):
        other = submit(kubeconfig, stranger, EXECUTOR)
        assert "not in the backend's allowedNamespaces" in _refused(api, stranger, other)["message"]
        # A granted namespace asking for a workspace secret outside allowedSecrets (another team's token).
        secret = kr.LeptonExecutor(resource_shape="cpu.small", image="ghcr.io/kuberun/task:1",
                                   secret_env=[{"name": "TOKEN", "secret": "team-b-token"}])
        stolen = submit(kubeconfig, "team-a-x", secret)
        assert "secret 'team-b-token' is not allowed here" in _refused(api, "team-a-x", stolen)["message"]
        assert fake.creates() == 0
        _only_own_lookups(fake, api, [(stranger, other), ("team-a-x", stolen)])
    assert not [r for r in server.request_log if r.resource == "namespaces" and r.verb == "get"]  # no selector: never read


def test_skypilot_refuses_a_namespace_not_granted_and_a_cluster_not_allow_listed_with_nothing_launched(
        sandbox, tmp_path, monkeypatch):
    from kuberun_operator.backends.skypilot import backend as skypilot_backend
    from tests.bridges.fake_skypilot import FakeSkypilot

    server, kubeconfig, api = sandbox
    sky = FakeSkypilot()
    monkeypatch.setattr(skypilot_backend, "SkypilotClient", lambda *args: sky)
    grants = {"allowedNamespaces": ["team-a-*"], "allowedClusters": ["team-a-*"]}
    operator_kubeconfig = as_chart_service_account(server, api, tmp_path,
                                                   {"skypilot": {"endpoint": "http://skypilot.example:46580", **grants}})
    config_file = write_config(tmp_path / "backends.yaml", {"skypilot": {"endpoint": "http://127.0.0.1:9",
                                                                         "pollIntervalSeconds": 0.2, **grants}})
    stranger = _namespace(api)
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": "team-a-y"}})
    with running_operator(operator_kubeconfig, config_file=config_file):
        other = submit(kubeconfig, stranger, kr.SkypilotExecutor(cpus=1))
        assert "SkyPilot endpoint 'http://127.0.0.1:9'" in _refused(api, stranger, other, "SkyPilot endpoint")["message"]
        # Someone else's cluster: launched there, the task would run on (and see) that team's machines.
        theirs = submit(kubeconfig, "team-a-y", kr.SkypilotExecutor(mode="cluster", cluster_name="team-b-gpu"))
        assert "cluster 'team-b-gpu' is not allowed here" in _refused(api, "team-a-y", theirs, "SkyPilot endpoint")["message"]
        assert sky.launched == []
