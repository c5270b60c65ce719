"""NeMo Run parity on the real Slurm: per-task cancel (scancel), FaultTolerance's in-job restarts, describe of an array.

Driven as a user would: ``kuberun cancel NAME --task T`` and ``kuberun describe`` (the CLI in-process),
with the operator's Slurm bridge submitting over real SSH to the harness's slurmctld.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kuberun.api import connect
from tests.helpers.manage import cli
from tests.helpers.operator import final_phase, get_experiment, task_record, wait_for

from .bridge import attempts, create_experiment, job_state, jobs_named, slurm_task

pytestmark = pytest.mark.usefixtures("crd")


def test_cancel_task_scancels_its_job_and_its_queued_dependent_and_the_other_task_completes(
        operator, kubeconfig, k8s_api_client, namespace, slurm_cluster):
    tasks = [slurm_task("train", inline="echo training; sleep 60"),
             slurm_task("evaluate", inline="echo never", depends_on=["train"]),
             slurm_task("other", inline="sleep 3; echo other done")]
    name = create_experiment(k8s_api_client, namespace, tasks)["metadata"]["name"]

    def queued() -> tuple[str, str] | None:
        exp = get_experiment(k8s_api_client, namespace, name)
        parent, child = attempts(exp, "train"), attempts(exp, "evaluate")
        if (parent and child and child[0]["backendRef"].get("id")
                and task_record(k8s_api_client, namespace, name, "train")["phase"] == "Running"):
            return parent[0]["backendRef"]["id"], child[0]["backendRef"]["id"]
        return None

    train_id, evaluate_id = wait_for(queued, 40, "train running and evaluate queued behind it (afterok)")
    done = cli("cancel", name, "--task", "train", kubeconfig=kubeconfig, namespace=namespace)
    assert (done.code, done.stdout) == (0, f"experiment {name}: task train cancelled\n"), done.stderr

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 60) == "Cancelled"
    user = connect(str(kubeconfig)).user
    train, evaluate, other = (task_record(k8s_api_client, namespace, name, t) for t in ("train", "evaluate", "other"))
    assert (train["phase"], train["message"]) == ("Cancelled", f"cancelled by {user} (spec.cancelTasks)")
    assert (evaluate["phase"], evaluate["reason"]) == ("Skipped", "DependencyFailed")
    assert other["phase"] == "Succeeded" and "other done" in Path(other["attempts"][0]["logRef"]["path"]).read_text()
    assert wait_for(lambda: job_state(slurm_cluster, train_id) == "CANCELLED", 20, "train scancelled")
    assert wait_for(lambda: job_state(slurm_cluster, evaluate_id) == "CANCELLED", 20, "evaluate scancelled")


def test_fault_tolerance_restarts_a_failed_job_in_place_and_records_one_attempt_with_its_restart(
        operator, k8s_api_client, namespace, slurm_cluster):
    script = ('if [ "$TORCHELASTIC_RESTART_COUNT" = 0 ]; then echo first run fails; exit 4; fi; '
              'echo "restart $TORCHELASTIC_RESTART_COUNT of $TORCHELASTIC_MAX_RESTARTS succeeds"')
    name = create_experiment(k8s_api_client, namespace, [slurm_task("train", inline=script, max_restarts=2)])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 60) == "Succeeded"
    (attempt,) = attempts(get_experiment(k8s_api_client, namespace, name), "train")
    assert (attempt["phase"], attempt["restarts"]) == ("Succeeded", 1)
    assert len(jobs_named(slurm_cluster, attempt["backendRef"]["idempotencyKey"])) == 1  # one sbatch job, restarted inside
    log = Path(attempt["logRef"]["path"]).read_text()
    assert "first run fails" in log and "in-job restart 1 of 2" in log and "restart 1 of 2 succeeds" in log


def test_describe_shows_an_array_s_indices_in_one_line_and_json_keeps_each(operator, kubeconfig, k8s_api_client,
                                                                           namespace, slurm_cluster):
    task = slurm_task("sweep", inline='[ "$SLURM_ARRAY_TASK_ID" != 2 ] || exit 5', array="0-3")
    name = create_experiment(k8s_api_client, namespace, [task])["metadata"]["name"]
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 90) == "Failed"

    page = cli("describe", name, kubeconfig=kubeconfig, namespace=namespace)
    assert page.code == 0, page.stderr
    assert "attempt 1 array, 4 indices: Succeeded 0-1,3; Failed (exit 5) 2" in page.stdout
    doc = json.loads(cli("describe", name, "-o", "json", kubeconfig=kubeconfig, namespace=namespace).stdout)
    (record,) = doc["experiment"]["status"]["tasks"]
    assert [(i["index"], i["phase"], i.get("exitCode")) for i in record["attempts"][0]["indices"]] == [
        (0, "Succeeded", 0), (1, "Succeeded", 0), (2, "Failed", 5), (3, "Succeeded", 0)]
