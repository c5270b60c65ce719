"""The Slurm bridge's pure parts: batch script, sbatch flags, remote commands, state mapping."""

from __future__ import annotations

import shlex
import subprocess
from datetime import datetime, timezone
from typing import Any

import pytest

from kuberun.resource import TaskSpec
from kuberun_operator.backend_config import SlurmCluster
from kuberun_operator.backends.slurm import script
from kuberun_operator.backends.slurm.state import SlurmJob, observed_from, parse_sacct, parse_squeue

HOSTILE = ["$(touch /tmp/pwned)", "`touch /tmp/pwned`", "'; touch /tmp/pwned; '", "a\ntouch /tmp/pwned", "x\" y"]
PLACE = script.AttemptPlace("ns", "exp", "train", 2, "uid-1-train-2")


def cluster(**fields: Any) -> SlurmCluster:
    return SlurmCluster.model_validate({"name": "dgx", "host": "login", "workdir": "/lustre/kr", **fields})


def task(**executor: Any) -> TaskSpec:
    return TaskSpec.model_validate({"name": "train", "script": {"command": ["true"]},
                                    "executor": {"slurm": {"cluster": "dgx", **executor}}})


def run_bash(text: str) -> str:
    return subprocess.run(["bash", "-c", text], capture_output=True, text=True, check=True).stdout


def test_sbatch_flags_map_executor_fields_and_fall_back_to_cluster_defaults():
    flags = script.sbatch_flags(task(nodes=2, ntasks_per_node=4, gpus_per_node=8, cpus_per_task=6, memory="64G",
                                     time_limit="04:00:00", qos="high").executor.slurm, cluster(partition="batch", account="research"))
    assert flags == ["--partition=batch", "--account=research", "--qos=high", "--nodes=2", "--ntasks-per-node=4",
                     "--gpus-per-node=8", "--cpus-per-task=6", "--mem=64G", "--time=04:00:00"]
    own = script.sbatch_flags(task(partition="debug", account="me").executor.slurm, cluster(partition="batch", account="x"))
    assert own[:2] == ["--partition=debug", "--account=me"]


def test_torchrun_runs_one_launcher_per_node_with_rank_from_slurm():
    spec = task(nodes=4, ntasks_per_node=8, launcher="torchrun")
    assert "--ntasks-per-node=1" in script.sbatch_flags(spec.executor.slurm, cluster())
    text = script.batch_script(spec, cluster(), PLACE)
    assert 'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)"' in text
    assert "export NODE_RANK=$SLURM_NODEID" in text and "--nproc-per-node=8" in text
    assert "srun --ntasks-per-node=1 bash -c '" in text and '-m kuberun.runner --config "$KUBERUN_TASK_FILE"' in text


def test_single_process_task_execs_the_runner_without_srun():
    text = script.batch_script(task(), cluster(python_setup="module load python/3.11"), PLACE)
    assert text.startswith("#!/bin/bash\n")
    assert text.rstrip().endswith('exec python -m kuberun.runner --config "$KUBERUN_TASK_FILE"')
    assert "module load python/3.11" in text and "export KUBERUN_ATTEMPT=2" in text


def test_a_packaged_task_unpacks_its_code_once_per_node_under_the_attempt_directory():
    code = {"encoding": "tar+gzip", "sha256": "a" * 64, "size": 1, "files": 1, "storage": {"configMaps": ["c-0"]}}
    packaged = TaskSpec.model_validate({**task().model_dump(by_alias=True, exclude_none=True), "code": code})
    cache = 'export KUBERUN_CODE_CACHE="$KUBERUN_DIR/code-cache"'
    assert cache in script.batch_script(packaged, cluster(), PLACE).splitlines()
    assert "KUBERUN_CODE_CACHE" not in script.batch_script(task(), cluster(), PLACE)


def test_pyxis_container_flags_mount_the_attempt_dir():
    text = script.batch_script(task(container_image="nvcr.io/nvidia/nemo:24.05", container_mounts=["/data:/data"]),
                               cluster(), PLACE)
    assert ("srun --container-image=nvcr.io/nvidia/nemo:24.05 "
            '--container-mounts="$KUBERUN_DIR":"$KUBERUN_DIR",/data:/data --container-workdir="$KUBERUN_DIR" '
            'python -m kuberun.runner') in text


def test_setup_lines_run_after_python_setup_and_fail_the_job_when_they_fail():
    text = script.batch_script(task(setup=["source venv/bin/activate"]), cluster(python_setup="module load py"), PLACE)
    assert text.index("set -eo pipefail") < text.index("module load py") < text.index("source venv") < text.index("set +eo")


@pytest.mark.parametrize("value", HOSTILE)
def test_env_values_reach_the_job_verbatim_and_execute_nothing(value, tmp_path):
    text = script.batch_script(task(env={"V": value}), cluster(), PLACE)
    marker = tmp_path / "pwned"
    exports = text[: text.index("set -eo pipefail")].replace("/tmp/pwned", str(marker))  # everything before setup
    assert run_bash(exports + 'printf %s "$V"') == value.replace("/tmp/pwned", str(marker))
    assert not marker.exists()


def test_bad_env_name_is_a_script_error():
    # Refused by the resource model already; a name Kubernetes allows but a shell cannot export, by the script.
    with pytest.raises(ValueError, match="env"):
        task(env={"A;touch x": "1"})
    with pytest.raises(script.ScriptError, match="invalid environment variable name"):
        script.batch_script(task(env={"my-var": "1"}), cluster(), PLACE)


def test_comment_line_cannot_be_broken_by_names():
    place = script.AttemptPlace("ns", "exp\ntouch /tmp/pwned", "t", 1, "k")
    header = script.batch_script(task(), cluster(), place).splitlines()[1]
    assert header.startswith("# kuberun:") and "?touch" in header


def test_attempt_dir_expands_home_but_quotes_everything_else():
    assert script.attempt_dir("/lustre/kr", PLACE) == "/lustre/kr/ns/exp/train/2"
    assert script.attempt_dir("~/.kuberun/jobs", PLACE) == '"$HOME"/.kuberun/jobs/ns/exp/train/2'
    hostile = script.AttemptPlace("ns", "$(touch x)", "t", 1, "k")
    assert script.attempt_dir("/w", hostile) == shlex.quote("/w/ns/$(touch x)/t/1")


def test_submit_command_quotes_every_flag_and_the_key():
    command = script.submit_command("/w/d", "uid-t-1", ["--partition=a b", "--account=$(touch x)"], (10, 20))
    assert "'--partition=a b'" in command and "'--account=$(touch x)'" in command
    assert "key=uid-t-1" in command and "head -c 10 > task.json && head -c 20 > job.sh" in command


def test_sacct_and_cancel_commands_accept_only_numeric_job_ids():
    with pytest.raises(ValueError):
        script.sacct_command(["1; touch x"])
    assert "--jobs" not in script.cancel_command("k", "1; touch x")


def test_the_logs_command_follows_the_job_by_its_quoted_name_never_an_id():
    directory = script.attempt_dir("~/.kuberun/jobs", script.AttemptPlace("ns", "e", "t", 1, "uid-t-1"))
    followed = script.logs_command(directory, "uid-t-1; touch x", follow=True, tail=None)
    assert "--name='uid-t-1; touch x'" in followed and " -j " not in followed
    assert followed.count('"$HOME"/.kuberun/jobs/ns/e/t/1/output.log') == 1
    assert "squeue" not in script.logs_command(directory, "uid-t-1", follow=False, tail=3)


def test_squeue_rows_parse_with_raw_wait_status():
    text = "12|uid-a-1|FAILED|NonZeroExitCode|2026-01-01T00:00:01|2026-01-01T00:00:05|768|\n13|k|RUNNING|None|2026-01-01T00:00:02|2026-01-01T01:00:00|0|\n"
    jobs = parse_squeue(text)
    assert jobs["12"] == SlurmJob("12", "uid-a-1", "FAILED", "NonZeroExitCode", datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc),
                                  datetime(2026, 1, 1, 0, 0, 5, tzinfo=timezone.utc), 3)
    assert jobs["13"].state == "RUNNING" and jobs["13"].reason is None


def test_sacct_rows_parse_and_skip_steps():
    jobs = parse_sacct("7|k|CANCELLED by 0|0:15|2026-01-01T00:00:00|2026-01-01T00:01:00\n7.batch|batch|CANCELLED|0:15|x|y\n")
    assert list(jobs) == ["7"] and jobs["7"].state == "CANCELLED" and jobs["7"].exit_code == 143


@pytest.mark.parametrize(("state", "phase", "reason"), [
    ("PENDING", "pending", None), ("CONFIGURING", "pending", None), ("RUNNING", "running", None),
    ("COMPLETING", "running", None), ("SUSPENDED", "suspended", None), ("COMPLETED", "succeeded", "Completed"),
    ("FAILED", "failed", "Error"), ("CANCELLED", "failed", "Cancelled"), ("TIMEOUT", "failed", "Timeout"),
    ("NODE_FAIL", "failed", "NodeFail"), ("OUT_OF_MEMORY", "failed", "OutOfMemory"),
    ("PREEMPTED", "failed", "Preempted"), ("BOOT_FAIL", "failed", "BootFail"),
])
def test_every_slurm_state_maps_to_a_phase_and_reason(state, phase, reason):
    observed = observed_from(SlurmJob("5", "k", state, exit_code=0 if state == "COMPLETED" else 1), None)
    assert (observed.state, observed.reason) == (phase, reason)
    assert observed.backend_id == "5"
