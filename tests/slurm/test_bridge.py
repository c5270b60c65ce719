"""The operator bridges Experiments to a real Slurm over real SSH; the status is the record.

The operator runs in-process against the API emulator with a config naming the harness's sshd
(`main`), a port nothing listens on (`down`) and a key sshd refuses (`stranger`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.jobs import finish_job, list_jobs
from tests.helpers.operator import final_phase, get_experiment, wait_for

from .bridge import attempts, create_experiment, events, job_state, jobs_named, patch_spec, slurm_task

pytestmark = pytest.mark.usefixtures("crd")


def _task(api: Any, ns: str, name: str, task: str = "t") -> dict[str, Any]:
    tasks = (get_experiment(api, ns, name).get("status") or {}).get("tasks", [])
    return next((t for t in tasks if t["name"] == task), {"name": task, "phase": None})


def test_script_task_runs_on_slurm_and_status_records_job_and_log(operator, k8s_api_client, namespace, slurm_cluster):
    exp = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline="echo hello from $KUBERUN_TASK on slurm")])
    name = exp["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 30) == "Succeeded"
    (attempt,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
    ref, log = attempt["backendRef"], attempt["logRef"]
    assert ref["backend"] == "slurm" and ref["cluster"] == "main" and ref["id"].isdigit()
    assert (attempt["phase"], attempt["exitCode"], attempt["reason"]) == ("Succeeded", 0, "Completed")
    assert attempt["startTime"] and attempt["finishTime"]
    assert log == {"kind": "slurm", "path": f"{slurm_cluster.workdir}/{namespace}/{name}/t/1/output.log"}
    assert "hello from t on slurm" in Path(log["path"]).read_text()
    assert jobs_named(slurm_cluster, ref["idempotencyKey"]) == {ref["id"]}


def test_failing_job_fails_the_task_with_its_exit_code_and_retries_per_policy(operator, k8s_api_client, namespace):
    task = {**slurm_task("t", ["sh", "-c", "exit 3"]), "retries": {"limit": 1, "backoffSeconds": 0}}
    name = create_experiment(k8s_api_client, namespace, [task])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 40) == "Failed"
    record = _task(k8s_api_client, namespace, name)
    assert [(a["attempt"], a["phase"], a["exitCode"], a["reason"]) for a in record["attempts"]] == [
        (1, "Failed", 3, "Error"), (2, "Failed", 3, "Error")]
    assert record["attempts"][0]["backendRef"]["id"] != record["attempts"][1]["backendRef"]["id"]


def test_kubernetes_task_starts_after_its_slurm_dependency_succeeds(operator, k8s_api_client, namespace):
    k8s = {"name": "evaluate", "dependsOn": ["train"], "script": {"command": ["true"]}, "executor": {"kubernetes": {}}}
    name = create_experiment(k8s_api_client, namespace, [slurm_task("train", inline="sleep 1"), k8s])["metadata"]["name"]

    def evaluate_jobs() -> list[str]:
        return [j["metadata"]["name"] for j in list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={name}")]

    assert evaluate_jobs() == []
    (job,) = wait_for(evaluate_jobs, 30, "the Kubernetes Job after the Slurm task")
    # The Job is created just before the status that records both transitions is written.
    train = wait_for(lambda: (t := _task(k8s_api_client, namespace, name, "train"))["phase"] == "Succeeded" and t, 10)
    created = next(j for j in list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={name}"))["metadata"]["creationTimestamp"]
    finished = datetime.fromisoformat(train["finishTime"].replace("Z", "+00:00"))
    assert finished <= datetime.fromisoformat(created)  # the Slurm job had finished before the Kubernetes Job existed
    finish_job(k8s_api_client, namespace, job)
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 20) == "Succeeded"


def test_terminate_scancels_the_running_job(operator, k8s_api_client, namespace, slurm_cluster):
    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", ["sleep", "120"])])["metadata"]["name"]
    wait_for(lambda: _task(k8s_api_client, namespace, name)["phase"] == "Running", 30, "Running")
    job_id = attempts(get_experiment(k8s_api_client, namespace, name), "t")[0]["backendRef"]["id"]

    patch_spec(k8s_api_client, namespace, name, {"shutdown": "Terminate"})
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 20) == "Cancelled"
    assert wait_for(lambda: job_state(slurm_cluster, job_id) == "CANCELLED", 20, "scancel")


def test_submission_rejected_by_sbatch_fails_without_retry(operator, k8s_api_client, namespace, slurm_cluster):
    task = {**slurm_task("t", partition="no-such-partition"), "retries": {"limit": 3, "backoffSeconds": 0}}
    name = create_experiment(k8s_api_client, namespace, [task])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 20) == "Failed"
    record = _task(k8s_api_client, namespace, name)
    assert record["reason"] == "SubmissionRejected" and "Invalid partition" in record["message"]
    assert len(record["attempts"]) == 1  # a rejected job is not retried
    assert jobs_named(slurm_cluster, record["attempts"][0]["backendRef"]["idempotencyKey"]) == set()


@pytest.mark.parametrize(("cluster", "words"), [("down", "cannot connect"), ("stranger", "authentication failed")])
def test_unreachable_login_host_is_backend_unavailable_and_retried(operator, k8s_api_client, namespace, cluster, words):
    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", cluster=cluster)])["metadata"]["name"]

    warning = wait_for(lambda: [e for e in events(k8s_api_client, namespace, name) if e["reason"] == "BackendUnavailable"],
                       20, "a BackendUnavailable event")
    assert warning[0]["type"] == "Warning" and words in warning[0]["message"]
    record = _task(k8s_api_client, namespace, name)
    assert record["phase"] == "Submitted" and len(record["attempts"]) == 1  # waiting, not failed
    patch_spec(k8s_api_client, namespace, name, {"shutdown": "Terminate"})


def test_hostile_strings_are_data_not_shell(operator, k8s_api_client, namespace, slurm_cluster, tmp_path):
    marker = tmp_path / "pwned"
    hostile = [f"$(touch {marker})", f"`touch {marker}`", f"'; touch {marker}; '", f"x\ntouch {marker}", f'"; touch {marker}; "']
    env = {f"H{i}": value for i, value in enumerate(hostile)}
    printer = 'import os, sys; print(repr([os.environ[f"H{i}"] for i in range(5)])); print(repr(sys.argv[1:]))'
    task = slurm_task("t", ["python", "-c", printer, *hostile], env=env, account=hostile[0], qos="",
                      setup=["echo setup ran"])
    name = create_experiment(k8s_api_client, namespace, [task])["metadata"]["name"]
    rejected = create_experiment(k8s_api_client, namespace, [slurm_task("t", partition=hostile[2]),
                                                             slurm_task("u", memory=hostile[0][:32])])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 30) == "Succeeded"
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, rejected), 30) == "Failed"
    output = Path(attempts(get_experiment(k8s_api_client, namespace, name), "t")[0]["logRef"]["path"]).read_text()
    assert repr(hostile) in output.splitlines()[1:]  # env values and args arrived verbatim
    assert {_task(k8s_api_client, namespace, rejected, t)["reason"] for t in "tu"} == {"SubmissionRejected"}
    assert not marker.exists()


def test_invalid_env_name_fails_as_invalid_job(operator, k8s_api_client, namespace):
    # A name Kubernetes allows but a shell cannot export: refused by the Slurm script, nothing submitted.
    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", env={"my-var": "1"})])["metadata"]["name"]
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 20) == "Failed"
    assert _task(k8s_api_client, namespace, name)["reason"] == "InvalidJob"


def test_env_name_injection_written_past_the_sdk_fails_the_spec_and_sends_nothing(operator, k8s_api_client, namespace):
    # The CRD cannot check map keys cheaply, so kubectl can store this; the operator refuses the spec as a whole.
    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", env={"A; touch x": "1"})])["metadata"]["name"]
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 20) == "Failed"
    conditions = get_experiment(k8s_api_client, namespace, name)["status"]["conditions"]
    assert [c["reason"] for c in conditions] == ["InvalidSpec"] and "env" in conditions[0]["message"]


def test_controller_down_then_back_loses_nothing_and_other_experiments_keep_going(
        operator, k8s_api_client, namespace, slurm_cluster):
    running = create_experiment(k8s_api_client, namespace, [slurm_task("t", ["sleep", "6"])])["metadata"]["name"]
    wait_for(lambda: _task(k8s_api_client, namespace, running)["phase"] == "Running", 30, "Running")

    slurm_cluster.stop_controller()
    try:
        waiting = create_experiment(k8s_api_client, namespace, [slurm_task("t")])["metadata"]["name"]
        k8s = create_experiment(k8s_api_client, namespace, [{"name": "k", "script": {"command": ["true"]},
                                                             "executor": {"kubernetes": {}}}])["metadata"]["name"]
        (job,) = wait_for(lambda: [j["metadata"]["name"] for j in list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={k8s}")],
                          20, "a Kubernetes Job while Slurm is down")
        warning = wait_for(lambda: [e for e in events(k8s_api_client, namespace, waiting) if e["reason"] == "BackendUnavailable"],
                           30, "BackendUnavailable while the controller is down")
        assert "controller" in warning[0]["message"].lower()
        assert _task(k8s_api_client, namespace, running)["phase"] == "Running"  # last known state is kept
    finally:
        slurm_cluster.start_controller()
    finish_job(k8s_api_client, namespace, job)
    for exp in (running, waiting, k8s):
        assert wait_for(lambda exp=exp: final_phase(k8s_api_client, namespace, exp), 60, f"{exp} finished") == "Succeeded"


def test_logs_stream_follows_the_job_until_it_ends(operator, k8s_api_client, namespace, slurm_config_file):
    from kuberun.resource import ExperimentResource
    from kuberun_operator.backend_config import BackendConfig
    from kuberun_operator.backends.slurm import SlurmBackend
    from kuberun_operator.settings import Settings

    inline = "for i in 1 2 3 4 5; do echo line $i; sleep 0.5; done"
    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline=inline)])["metadata"]["name"]
    (attempt,) = wait_for(lambda: [a for a in attempts(get_experiment(k8s_api_client, namespace, name), "t")
                                   if a.get("logRef") and a["backendRef"].get("id")], 20, "a submitted attempt")

    async def read(follow: bool, tail: int | None) -> tuple[bytes, float]:
        # What `kuberun logs --backend-config FILE` does, client side: a backend of its own.
        backend = SlurmBackend(BackendConfig.load(slurm_config_file).slurm, Settings())
        started, out = time.monotonic(), b""
        try:
            exp = ExperimentResource.model_validate(get_experiment(k8s_api_client, namespace, name))
            async for chunk in backend.logs(exp, "t", attempt["attempt"], follow=follow, tail=tail):
                out += chunk
        finally:
            await backend.stop()
        return out, time.monotonic() - started

    followed, took = asyncio.run(read(follow=True, tail=None))
    assert followed.decode().split("\n")[:5] == [f"line {i}" for i in range(1, 6)]
    assert took < 30  # the stream ended by itself when the job did
    assert final_phase(k8s_api_client, namespace, name) or wait_for(lambda: final_phase(k8s_api_client, namespace, name), 10)
    last, _ = asyncio.run(read(follow=False, tail=2))
    assert last.decode().splitlines() == ["line 5", "kuberun: task returned 0"] or last.decode().splitlines()[-1] == "line 5"


@pytest.mark.slow
def test_time_limit_ends_the_task_with_reason_timeout(operator, k8s_api_client, namespace):
    # Slurm's smallest limit is one minute and it checks limits every ~30 s: this test takes 60-90 s.
    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", ["sleep", "600"], time_limit="1")])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 150) == "Failed"
    record = _task(k8s_api_client, namespace, name)
    assert record["reason"] == "Timeout" and "time limit" in record["message"]


def test_kuberun_logs_cli_streams_a_slurm_tasks_output_over_ssh(operator, kubeconfig, k8s_api_client, namespace, slurm_config_file):
    import os
    import subprocess
    import sys

    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline="echo cli says hi from $KUBERUN_TASK")])["metadata"]["name"]
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 30) == "Succeeded"
    done = subprocess.run([sys.executable, "-m", "kuberun.cli", "logs", name, "t", "--kubeconfig", str(kubeconfig), "-n", namespace,
                           "--backend-config", str(slurm_config_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "cli says hi from t" in done.stdout
    env = {k: v for k, v in os.environ.items() if k not in ("KUBERUN_BACKEND_CONFIG", "KUBERUN_SERVER")}
    missing = subprocess.run([sys.executable, "-m", "kuberun.cli", "logs", name, "t", "--kubeconfig", str(kubeconfig), "-n", namespace],
                             capture_output=True, text=True, timeout=60, env=env)
    assert missing.returncode == 1 and "record server" in missing.stderr and "--backend-config" in missing.stderr
