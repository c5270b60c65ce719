"""Slurm executor parity on the real Slurm: gres, constraint, exclusive, extra flags, afterok.

The harness's node offers a generic resource (``krtoken:4``) and features (``kuberun``,
``fastdisk``), so a job asking for them can run here; ``scontrol show job`` is the evidence that
each flag reached sbatch (or srun) as asked.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.operator import final_phase, get_experiment, task_record, wait_for

from .bridge import attempts, create_experiment, job_state, slurm_task
from .harness import SlurmCluster

pytestmark = pytest.mark.usefixtures("crd")


def _job(cluster: SlurmCluster, job_id: str) -> dict[str, str]:
    """``scontrol show job -o`` as a dict (values without spaces; the few we read have none)."""
    out = cluster.run(["scontrol", "show", "job", "-o", job_id]).stdout
    return dict(word.split("=", 1) for word in out.split() if "=" in word)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_gres_constraint_exclusive_and_extra_flags_reach_slurm_and_the_job_runs(operator, k8s_api_client, namespace,
                                                                                 slurm_cluster):
    task = slurm_task("t", inline="echo parity on $SLURM_JOB_NODELIST", gres="krtoken:2", constraint="kuberun&fastdisk",
                      exclusive=True, sbatch_args=["--comment=kuberun-parity", "--no-requeue"], srun_args=["--label"])
    name = create_experiment(k8s_api_client, namespace, [task])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 40) == "Succeeded"
    (attempt,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
    job = _job(slurm_cluster, attempt["backendRef"]["id"])
    assert job["JobState"] == "COMPLETED"
    assert job["Features"] == "kuberun&fastdisk" and job["Comment"] == "kuberun-parity" and job["Requeue"] == "0"
    assert job["OverSubscribe"] == "NO"  # --exclusive
    assert "krtoken:2" in job.get("TresPerNode", "")
    # srun --label prefixes each line with the task's rank: the task ran as an srun step with the flag.
    assert "0: parity on " in Path(attempt["logRef"]["path"]).read_text()


def test_a_constraint_the_cluster_cannot_meet_is_rejected_by_sbatch_without_retry(operator, k8s_api_client, namespace):
    task = {**slurm_task("t", constraint="nosuchfeature"), "retries": {"limit": 2, "backoffSeconds": 0}}
    name = create_experiment(k8s_api_client, namespace, [task])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 30) == "Failed"
    record = task_record(k8s_api_client, namespace, name, "t")
    assert record["reason"] == "SubmissionRejected" and "feature" in record["message"].lower()
    assert len(record["attempts"]) == 1


def test_a_slurm_dependent_queues_in_slurm_behind_its_running_parent_with_afterok(operator, k8s_api_client, namespace,
                                                                                  slurm_cluster):
    tasks = [slurm_task("train", inline="sleep 5; echo trained"),
             slurm_task("evaluate", inline="echo evaluated", depends_on=["train"])]
    name = create_experiment(k8s_api_client, namespace, tasks)["metadata"]["name"]

    def early() -> tuple[str, str] | None:
        exp = get_experiment(k8s_api_client, namespace, name)
        parent, child = attempts(exp, "train"), attempts(exp, "evaluate")
        if parent and child and child[0]["backendRef"].get("id") and task_record(k8s_api_client, namespace, name,
                                                                             "train")["phase"] == "Running":
            return parent[0]["backendRef"]["id"], child[0]["backendRef"]["id"]
        return None

    parent_id, child_id = wait_for(early, 30, "evaluate submitted while train runs")
    job = _job(slurm_cluster, child_id)
    assert (job["JobState"], job["Reason"]) == ("PENDING", "Dependency")
    assert job["Dependency"].startswith(f"afterok:{parent_id}")

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 60) == "Succeeded"
    train, evaluate = (task_record(k8s_api_client, namespace, name, t) for t in ("train", "evaluate"))
    assert len(evaluate["attempts"]) == 1 and evaluate["attempts"][0]["backendRef"]["id"] == child_id  # submitted once
    assert _time(evaluate["startTime"]) >= _time(train["finishTime"])  # Slurm held it until train completed
    assert "evaluated" in Path(evaluate["attempts"][0]["logRef"]["path"]).read_text()


def test_when_the_parent_fails_the_queued_dependent_is_cancelled_and_recorded_skipped(operator, k8s_api_client, namespace,
                                                                                      slurm_cluster):
    tasks = [slurm_task("train", inline="sleep 4; exit 3"),
             slurm_task("evaluate", inline="echo never", depends_on=["train"])]
    name = create_experiment(k8s_api_client, namespace, tasks)["metadata"]["name"]

    (child,) = wait_for(lambda: [a for a in attempts(get_experiment(k8s_api_client, namespace, name), "evaluate")
                                 if a["backendRef"].get("id")], 30, "evaluate queued behind train")
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 60) == "Failed"
    evaluate = task_record(k8s_api_client, namespace, name, "evaluate")
    assert (evaluate["phase"], evaluate["reason"]) == ("Skipped", "DependencyFailed")
    assert evaluate["attempts"][0]["phase"] == "Cancelled"
    # Not left PENDING (DependencyNeverSatisfied) in Slurm: the operator cancelled it.
    assert wait_for(lambda: job_state(slurm_cluster, child["backendRef"]["id"]) == "CANCELLED", 20, "scancel")


def _indices(record: dict[str, Any]) -> list[tuple[int, str, int | None]]:
    return [(i["index"], i["phase"], i.get("exitCode")) for i in record["attempts"][-1].get("indices", [])]


def test_an_array_records_each_index_state_and_exit_code_and_fails_when_one_index_fails(operator, k8s_api_client,
                                                                                         namespace, slurm_cluster):
    ok = slurm_task("ok", inline='echo "index $SLURM_ARRAY_TASK_ID of $KUBERUN_TASK"', array="0-2")
    bad = slurm_task("bad", inline='[ "$SLURM_ARRAY_TASK_ID" != 5 ] || exit 7', array="1-5:2")
    name = create_experiment(k8s_api_client, namespace, [ok, bad])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 90) == "Failed"
    ok_record, bad_record = (task_record(k8s_api_client, namespace, name, t) for t in ("ok", "bad"))
    assert ok_record["phase"] == "Succeeded" and _indices(ok_record) == [(0, "Succeeded", 0), (1, "Succeeded", 0),
                                                                         (2, "Succeeded", 0)]
    assert (bad_record["phase"], bad_record["exitCode"]) == ("Failed", 7)
    assert _indices(bad_record) == [(1, "Succeeded", 0), (3, "Succeeded", 0), (5, "Failed", 7)]
    (attempt,) = ok_record["attempts"]
    assert attempt["backendRef"]["id"].isdigit()  # the array's own id, as sbatch returned it
    log = Path(attempt["logRef"]["path"]).read_text()
    assert all(f"index {i} of ok" in log for i in range(3))  # each index appended to the one output.log
