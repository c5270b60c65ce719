"""At most once on real Slurm (issue 19.3): a job ended or purged behind the operator's back.

- ``scancel`` of a running job outside kuberun: its attempt fails ``Cancelled`` and the retry is a
  new job; the first job is never submitted again.
- a job purged while the operator is down (finished, then the controller cold-started without
  its job state and accounting — Slurm forgets the job entirely): the attempt ends ``JobLost``
  (never re-submitted under the same number), the retry policy runs attempt 2.

Each test runs its own operators, so the controller restart cannot surprise a long-lived one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.operator import get_experiment, phase, running_operator, wait_for

from .bridge import attempts, create_experiment, job_state, jobs_named, slurm_task

pytestmark = pytest.mark.usefixtures("crd")


def _attempts(api: Any, ns: str, name: str) -> list[dict[str, Any]]:
    return attempts(get_experiment(api, ns, name), "t")


def _running(api: Any, ns: str, name: str) -> dict[str, Any]:
    return wait_for(lambda: next((a for a in _attempts(api, ns, name) if a["phase"] == "Running"
                                  and a["backendRef"].get("uid")), None), 30, "a running attempt with its job recorded")


def test_a_job_scancelled_behind_the_operator_s_back_fails_its_attempt_and_the_retry_is_a_new_job(
        kubeconfig: Path, slurm_config_file: Path, k8s_api_client, namespace, slurm_cluster):
    with running_operator(kubeconfig, config_file=slurm_config_file):
        name = create_experiment(k8s_api_client, namespace, [
            {**slurm_task("t", ["sleep", "3"]), "retries": {"limit": 1, "backoffSeconds": 0}}])["metadata"]["name"]
        first = _running(k8s_api_client, namespace, name)["backendRef"]
        assert first["uid"] == first["id"]  # the job's identity is in the record as soon as it exists
        slurm_cluster.run(["scancel", first["id"]])
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", 60, "Succeeded")
    one, two = _attempts(k8s_api_client, namespace, name)
    assert (one["attempt"], one["phase"], one["reason"]) == (1, "Failed", "Cancelled")
    assert (two["attempt"], two["phase"]) == (2, "Succeeded") and two["backendRef"]["id"] != first["id"]
    assert jobs_named(slurm_cluster, first["idempotencyKey"]) == {first["id"]}  # never submitted again


def test_a_job_purged_while_the_operator_is_down_ends_its_attempt_job_lost(
        kubeconfig: Path, slurm_config_file: Path, k8s_api_client, namespace, slurm_cluster):
    with running_operator(kubeconfig, config_file=slurm_config_file):
        name = create_experiment(k8s_api_client, namespace, [
            {**slurm_task("t", ["sleep", "1"]), "retries": {"limit": 1, "backoffSeconds": 0}}])["metadata"]["name"]
        first = _running(k8s_api_client, namespace, name)["backendRef"]
    # The operator is down: the job finishes, then Slurm forgets it (state and accounting gone).
    wait_for(lambda: job_state(slurm_cluster, first["id"]) == "COMPLETED", 30, "the job to finish")
    slurm_cluster.stop_controller()
    try:
        for saved in slurm_cluster.layout.state.glob("job_state*"):
            saved.unlink()
        slurm_cluster.layout.jobcomp.write_text("")
    finally:
        slurm_cluster.start_controller()
    assert jobs_named(slurm_cluster, first["idempotencyKey"]) == set()
    with running_operator(kubeconfig, config_file=slurm_config_file):
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", 60, "Succeeded")
    one, two = _attempts(k8s_api_client, namespace, name)
    assert (one["attempt"], one["phase"], one["reason"], one.get("exitCode")) == (1, "Failed", "JobLost", None)
    assert "purged" in one["message"]
    assert (two["attempt"], two["phase"]) == (2, "Succeeded")
    assert jobs_named(slurm_cluster, first["idempotencyKey"]) == set()  # attempt 1 never submitted again
