"""Leader election with the real Slurm bridge: the leader is SIGKILLed while its sbatch job runs; the
standby takes over the lease, adopts the job by its recorded id and finishes the run — one sbatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.operator import get_experiment, phase, wait_for
from tests.helpers.operator_process import operator_process
from tests.integration.test_leader_election import LEASE_ARGS, holder

from .bridge import attempts, create_experiment, jobs_named, slurm_task

pytestmark = pytest.mark.usefixtures("crd")


def test_killed_leader_standby_finishes_with_no_duplicate_sbatch(kubeconfig: Path, slurm_config_file: Path,
                                                                   k8s_api_client, namespace, slurm_cluster,
                                                                   tmp_path: Path):
    args = [*LEASE_ARGS, "--lease-namespace", namespace, "--config", str(slurm_config_file)]
    with operator_process(kubeconfig, tmp_path / "a.log", *args, "--identity", "slurm-a") as a:
        wait_for(lambda: holder(k8s_api_client, namespace) == "slurm-a", 60, "slurm-a to lead")
        with operator_process(kubeconfig, tmp_path / "b.log", *args, "--identity", "slurm-b"):
            name = create_experiment(k8s_api_client, namespace, [slurm_task("t", ["sleep", "6"])])["metadata"]["name"]
            running = wait_for(lambda: next((x for x in attempts(get_experiment(k8s_api_client, namespace, name), "t")
                                             if x["phase"] == "Running"), None), 60, "the leader's sbatch job to run")
            a.kill()  # mid-run, with the job in Slurm's queue
            a.wait(10)
            wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", 60, "the standby to finish the run")
            assert holder(k8s_api_client, namespace) == "slurm-b"
    (after,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
    ref = running["backendRef"]
    assert after["backendRef"]["id"] == ref["id"]
    assert jobs_named(slurm_cluster, ref["idempotencyKey"]) == {ref["id"]}, "exactly one sbatch"
