"""Operator restarts never submit a Slurm job twice: the idempotency key is the job name.

Each test runs its own operators (one at a time), so this module has no long-lived one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.operator import get_experiment, phase, running_operator, wait_for

from .bridge import attempts, create_experiment, jobs_named, slurm_task

pytestmark = pytest.mark.usefixtures("crd")


def _running_attempt(api: Any, ns: str, name: str) -> dict[str, Any]:
    return wait_for(lambda: next((a for a in attempts(get_experiment(api, ns, name), "t") if a["phase"] == "Running"), None),
                    30, "a running attempt")


def test_operator_restarted_mid_run_submits_no_duplicate_job(kubeconfig: Path, slurm_config_file: Path, k8s_api_client,
                                                             namespace, slurm_cluster):
    with running_operator(kubeconfig, config_file=slurm_config_file):
        name = create_experiment(k8s_api_client, namespace, [slurm_task("t", ["sleep", "4"])])["metadata"]["name"]
        before = _running_attempt(k8s_api_client, namespace, name)["backendRef"]
    with running_operator(kubeconfig, config_file=slurm_config_file):
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", 30, "Succeeded")
    (after,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
    assert after["backendRef"] == before
    assert jobs_named(slurm_cluster, before["idempotencyKey"]) == {before["id"]}


def test_crash_between_sbatch_and_status_write_finds_the_job_by_name(kubeconfig: Path, slurm_config_file: Path,
                                                                     k8s_api_client, namespace, slurm_cluster):
    from kubernetes import client

    with running_operator(kubeconfig, config_file=slurm_config_file):
        name = create_experiment(k8s_api_client, namespace, [slurm_task("t", ["sleep", "4"])])["metadata"]["name"]
        before = _running_attempt(k8s_api_client, namespace, name)["backendRef"]
    # What the status looks like if the operator died after sbatch but before recording the id.
    exp = get_experiment(k8s_api_client, namespace, name)
    for attempt in exp["status"]["tasks"][0]["attempts"]:
        attempt["backendRef"].pop("id")
        attempt["backendRef"].pop("uid", None)  # written by the same status write as the id
        attempt.pop("logRef", None)
        attempt["phase"] = "Submitted"
    client.CustomObjectsApi(k8s_api_client).replace_namespaced_custom_object_status(
        "kuberun.dev", "v1alpha1", namespace, "experiments", name, exp)

    with running_operator(kubeconfig, config_file=slurm_config_file):
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", 30, "Succeeded")
    (after,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
    assert after["backendRef"]["id"] == before["id"] and after["logRef"]["path"].endswith("/t/1/output.log")
    assert jobs_named(slurm_cluster, before["idempotencyKey"]) == {before["id"]}


def test_a_task_cancel_asked_while_no_operator_runs_is_carried_out_by_the_next_one(kubeconfig: Path, slurm_config_file: Path,
                                                                                   k8s_api_client, namespace, slurm_cluster):
    from kuberun.api import connect
    from kuberun.manage import lifecycle

    from .bridge import job_state

    tasks = [slurm_task("t", ["sleep", "60"]), slurm_task("other", ["sleep", "2"])]
    with running_operator(kubeconfig, config_file=slurm_config_file):
        name = create_experiment(k8s_api_client, namespace, tasks)["metadata"]["name"]
        job = _running_attempt(k8s_api_client, namespace, name)["backendRef"]["id"]
    lifecycle.cancel_task(connect(str(kubeconfig), namespace=namespace), name, "t")  # the spec holds the request
    assert job_state(slurm_cluster, job) == "RUNNING"  # nobody acted on it yet
    with running_operator(kubeconfig, config_file=slurm_config_file):
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Cancelled", 40, "Cancelled")
    assert wait_for(lambda: job_state(slurm_cluster, job) == "CANCELLED", 20, "scancel")
    records = {t["name"]: t for t in get_experiment(k8s_api_client, namespace, name)["status"]["tasks"]}
    assert (records["t"]["phase"], records["other"]["phase"]) == ("Cancelled", "Succeeded")
    assert len(records["t"]["attempts"]) == 1 and "spec.cancelTasks" in records["t"]["message"]
