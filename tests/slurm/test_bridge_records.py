"""Slurm logs through the operator's record server: a user reads a live Slurm attempt's output with
their own token — no backend config, no SSH key — while another tenant is refused.

Run inside the Slurm harness's network namespace (tests/slurm/netns-run).
"""

from __future__ import annotations

import copy
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from kuberun.resource.constants import GROUP, PLURAL, VERSION
from tests.helpers.operator import get_experiment, running_operator, wait_for

from .bridge import attempts, create_experiment, kuberun_cli, slurm_task

pytestmark = pytest.mark.usefixtures("crd")
pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def record_server(kubeconfig: Path, crd: None, slurm_config_file: Path) -> Any:
    port = _free_port()
    with running_operator(kubeconfig, config_file=slurm_config_file, record_server_port=port,
                          record_server_host="127.0.0.1"):
        yield f"http://127.0.0.1:{port}"


def test_a_running_slurm_tasks_log_is_followed_through_the_record_server(record_server, kubeconfig, k8s_api_client,
                                                                        namespace, tmp_path):
    inline = "echo first from $KUBERUN_TASK; sleep 3; echo last from $KUBERUN_TASK"
    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline=inline)])["metadata"]["name"]
    wait_for(lambda: any(a.get("logRef") for a in attempts(get_experiment(k8s_api_client, namespace, name), "t")),
             what="the attempt's log location")
    followed = kuberun_cli(kubeconfig, record_server, "logs", name, "t", "-f", "-n", namespace)
    assert followed.returncode == 0, followed.stderr
    assert "first from t" in followed.stdout and "last from t" in followed.stdout


def test_another_tenant_cannot_read_the_slurm_log(record_server, kubeconfig, k8s_api_client, namespace, apiserver, tmp_path):
    from kuberun_sandbox.kubeconfig import write_kubeconfig

    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline="echo private slurm output")])["metadata"]["name"]
    wait_for(lambda: any(a.get("logRef") for a in attempts(get_experiment(k8s_api_client, namespace, name), "t")),
             what="the attempt's log location")
    stranger = write_kubeconfig(tmp_path / "stranger", apiserver.url, namespace, user="mallory",
                                token=apiserver.auth.mint("mallory", ()))
    refused = kuberun_cli(stranger, record_server, "logs", name, "t", "-n", namespace)
    assert refused.returncode == 1 and "forbidden" in refused.stderr, refused.stderr
    assert "private slurm output" not in refused.stdout + refused.stderr


def _finished_attempt(api: Any, ns: str, name: str) -> dict[str, Any]:
    def ended() -> list[dict[str, Any]]:
        return [a for a in attempts(get_experiment(api, ns, name), "t") if a.get("phase") in ("Succeeded", "Failed")]

    (attempt,) = wait_for(ended, 60, f"{name}'s attempt to end")
    return attempt


def test_a_log_path_patched_into_status_cannot_read_another_tenants_log(record_server, kubeconfig, k8s_api_client,
                                                                        namespace):
    """Someone allowed to write ``experiments/status`` (not granted by the chart's user roles) points an
    attempt's logRef (and job id) at another tenant's Slurm log; the record server still returns only
    that attempt's own output, because the bridge computes the log's place from the Experiment."""
    from kubernetes import client

    victim_ns = f"t-victim-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(k8s_api_client).create_namespace({"metadata": {"name": victim_ns}})
    victim = create_experiment(k8s_api_client, victim_ns, [slurm_task("t", inline="echo victim secret 4f2a")])["metadata"]["name"]
    mine = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline="echo my own line")])["metadata"]["name"]
    theirs, own = _finished_attempt(k8s_api_client, victim_ns, victim), _finished_attempt(k8s_api_client, namespace, mine)
    assert theirs["logRef"]["path"].endswith(f"/{victim_ns}/{victim}/t/1/output.log")

    custom = client.CustomObjectsApi(k8s_api_client)
    body = get_experiment(k8s_api_client, namespace, mine)
    status = copy.deepcopy(body["status"])
    (attempt,) = status["tasks"][0]["attempts"]
    attempt["logRef"] = theirs["logRef"]
    attempt["backendRef"] = {**attempt["backendRef"], "id": theirs["backendRef"]["id"], "uid": theirs["backendRef"]["id"]}
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, mine, {"status": status})

    served = kuberun_cli(kubeconfig, record_server, "logs", mine, "t", "-n", namespace)
    # The tamper held while the log was read (the operator does not rewrite an ended attempt's status).
    (still,) = attempts(get_experiment(k8s_api_client, namespace, mine), "t")
    assert still["logRef"] == theirs["logRef"] and own["logRef"] != theirs["logRef"]
    assert served.returncode == 0, served.stderr
    assert "victim secret 4f2a" not in served.stdout + served.stderr
    assert "my own line" in served.stdout
    victims = kuberun_cli(kubeconfig, record_server, "logs", victim, "t", "-n", victim_ns)  # the victim's own log is intact
    assert "victim secret 4f2a" in victims.stdout, victims.stderr
