"""Slurm logs through the operator's record server: a user reads a live Slurm attempt's output with
their own token — no backend config, no SSH key — while another tenant is refused.

Run inside the Slurm harness's network namespace (tests/slurm/netns-run).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.operator import get_experiment, running_operator, wait_for

from .bridge import attempts, create_experiment, slurm_task

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


def _cli(kubeconfig: Path, server: str, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "KUBERUN_BACKEND_CONFIG"}
    env["KUBERUN_SERVER"] = server
    return subprocess.run([sys.executable, "-m", "kuberun.cli", *args, "--kubeconfig", str(kubeconfig)],
                          capture_output=True, text=True, timeout=60, env=env)


def test_a_running_slurm_tasks_log_is_followed_through_the_record_server(record_server, kubeconfig, k8s_api_client,
                                                                        namespace, tmp_path):
    inline = "echo first from $KUBERUN_TASK; sleep 3; echo last from $KUBERUN_TASK"
    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline=inline)])["metadata"]["name"]
    wait_for(lambda: any(a.get("logRef") for a in attempts(get_experiment(k8s_api_client, namespace, name), "t")),
             what="the attempt's log location")
    followed = _cli(kubeconfig, record_server, "logs", name, "t", "-f", "-n", namespace)
    assert followed.returncode == 0, followed.stderr
    assert "first from t" in followed.stdout and "last from t" in followed.stdout


def test_another_tenant_cannot_read_the_slurm_log(record_server, kubeconfig, k8s_api_client, namespace, apiserver, tmp_path):
    from kuberun_sandbox.kubeconfig import write_kubeconfig

    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline="echo private slurm output")])["metadata"]["name"]
    wait_for(lambda: any(a.get("logRef") for a in attempts(get_experiment(k8s_api_client, namespace, name), "t")),
             what="the attempt's log location")
    stranger = write_kubeconfig(tmp_path / "stranger", apiserver.url, namespace, user="mallory",
                                token=apiserver.auth.mint("mallory", ()))
    refused = _cli(stranger, record_server, "logs", name, "t", "-n", namespace)
    assert refused.returncode == 1 and "forbidden" in refused.stderr, refused.stderr
    assert "private slurm output" not in refused.stdout + refused.stderr
