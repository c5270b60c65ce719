"""`kuberun logs` against the API emulator: a pod's log (tail, follow), a local task's files, and a
bridged task's log streamed from the backend built from the admin's configuration.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.manage import cli, run_to_success, submit

pytestmark = pytest.mark.usefixtures("crd")


def test_logs_streams_the_pod_log_with_tail_and_follow(operator, kubeconfig, k8s_api_client, namespace, logserver):
    name = submit(kubeconfig, namespace, "logged")
    run_to_success(k8s_api_client, namespace, name, logserver, [f"line {i}" for i in range(5)])
    assert cli("logs", name, "train", kubeconfig=kubeconfig, namespace=namespace).stdout == "".join(f"line {i}\n" for i in range(5))
    assert cli("logs", name, "--tail", "2", kubeconfig=kubeconfig, namespace=namespace).stdout == "line 3\nline 4\n"
    followed = cli("logs", name, "-f", "--attempt", "1", kubeconfig=kubeconfig, namespace=namespace)
    assert followed.stdout.splitlines()[-1] == "line 4" and logserver.follow_requests == 1
    missing = cli("logs", name, "eval", kubeconfig=kubeconfig, namespace=namespace)
    assert missing.code == 1 and missing.stderr == f"error: task 'eval' not found in experiment '{name}' (tasks: train)\n"
    assert cli("logs", name, "--attempt", "7", kubeconfig=kubeconfig, namespace=namespace).stderr.startswith("error: task 'train' has no attempt 7")


def test_logs_reads_local_executor_files(kubeconfig, namespace, k8s_api_client, tmp_path):
    name = submit(kubeconfig, namespace, "localrun")
    log = tmp_path / "output.log"
    log.write_text("".join(f"local {i}\n" for i in range(100)))
    _patch_status(k8s_api_client, namespace, name, {
        "attempt": 1, "phase": "Succeeded", "finishTime": "2026-01-01T00:00:00Z", "exitCode": 0,
        "backendRef": {"backend": "local", "idempotencyKey": "k", "id": "123"}, "logRef": {"kind": "file", "path": str(log)}})
    assert cli("logs", name, "--tail", "3", kubeconfig=kubeconfig, namespace=namespace).stdout == "local 97\nlocal 98\nlocal 99\n"
    assert len(cli("logs", name, "-f", kubeconfig=kubeconfig, namespace=namespace).stdout.splitlines()) == 100


def _patch_status(api: Any, namespace: str, name: str, attempt: dict[str, Any]) -> None:
    from kubernetes import client

    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        "kuberun.dev", "v1alpha1", namespace, "experiments", name,
        {"status": {"phase": "Succeeded", "tasks": [{"name": "train", "phase": "Succeeded", "attempt": 1, "attempts": [attempt]}]}})


class FakeLepton:
    """Stands in for the Lepton bridge: records how `kuberun logs` drives it."""

    calls: list[Any] = []

    def __init__(self, config: Any, settings: Any) -> None:
        self.calls.append(("init", [w.name for w in config.workspaces]))

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")

    async def logs(self, exp: Any, task: str, attempt: int, follow: bool, tail: int | None) -> Any:
        self.calls.append(("logs", exp.metadata.name, task, attempt, follow, tail))
        for i in range(3):
            yield f"remote {i}\n".encode()


def test_logs_of_bridged_tasks_stream_from_the_backend_built_from_its_config(kubeconfig, namespace, k8s_api_client, tmp_path, monkeypatch):
    name = submit(kubeconfig, namespace, "bridged")
    _patch_status(k8s_api_client, namespace, name, {
        "attempt": 1, "phase": "Succeeded", "exitCode": 0,
        "backendRef": {"backend": "lepton", "idempotencyKey": "k", "id": "job-1", "cluster": "prod"},
        "logRef": {"kind": "lepton", "path": "prod/job-1"}})
    monkeypatch.delenv("KUBERUN_BACKEND_CONFIG", raising=False)
    monkeypatch.delenv("KUBERUN_SERVER", raising=False)
    assert cli("logs", name, kubeconfig=kubeconfig, namespace=namespace).stderr == (
        "error: logs of lepton tasks are served by the operator's record server, and this cluster publishes none "
        "(no ConfigMap kuberun-system/kuberun-endpoints; $KUBERUN_SERVER names one); an administrator can read them "
        "with --backend-config FILE\n")
    config = tmp_path / "backends.yaml"
    config.write_text("lepton:\n  workspaces: [{name: prod, url: 'http://lepton.invalid'}]\n")
    monkeypatch.setattr("kuberun_operator.backends.lepton.LeptonBackend", FakeLepton)
    FakeLepton.calls = []
    result = cli("logs", name, "--backend-config", str(config), "--tail", "5", kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0 and result.stdout == "remote 0\nremote 1\nremote 2\n", result.stderr
    assert FakeLepton.calls == [("init", ["prod"]), "start", ("logs", name, "train", 1, False, 5), "stop"]
