"""Heterogeneous Slurm jobs, built without a cluster: sbatch's `:`-separated components, the batch
script's `srun --het-group` per component (run under bash with a stand-in srun), the leader lookup
and the parsing of het rows (the real-Slurm side is tests/slurm/test_hetjob.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kuberun.resource import TaskSpec
from kuberun_operator.backend_config import SlurmCluster
from kuberun_operator.backends.slurm import script
from kuberun_operator.backends.slurm.state import observed_from, parse_squeue

from .test_script import HOSTILE

PLACE = script.AttemptPlace("ns", "exp", "train", 1, "uid-1-train-1")
# A stand-in srun: drops its own flags (noting --het-group and --output) and runs the command it was given.
FAKE_SRUN = """#!/bin/bash
out=/dev/stdout
while [[ "$1" == --* ]]; do case "$1" in --output=*) out="${1#--output=}";; esac; shift; done
exec "$@" >>"$out" 2>&1
"""
# A stand-in runner: says what its component sees, and fails as component $FAIL asks.
FAKE_PYTHON = """#!/bin/bash
echo "index=$KUBERUN_HET_INDEX size=$KUBERUN_HET_SIZE role=$ROLE v=$V summary=$KUBERUN_SUMMARY_FILE"
[ "$KUBERUN_HET_INDEX" != "${FAIL:-none}" ] || exit 7
"""


def cluster() -> SlurmCluster:
    return SlurmCluster.model_validate({"name": "dgx", "host": "login", "workdir": "/lustre/kr", "partition": "batch"})


def het_task(*components: dict[str, Any], **executor: Any) -> TaskSpec:
    group = list(components) or [{}, {}]
    return TaskSpec.model_validate({"name": "train", "script": {"command": ["true"]}, "executor": {"slurm": {
        "cluster": "dgx", "heterogeneous": True, "resourceGroup": group, **executor}}})


def test_components_are_separated_by_a_colon_each_with_its_own_resources_and_the_job_s_placement():
    spec = het_task({"nodes": 2, "gpusPerNode": 8, "memory": "400G", "sbatchArgs": ["--comment=trainer"]},
                    {"ntasksPerNode": 4, "cpusPerTask": 8, "timeLimit": "10", "gres": "krtoken:1"},
                    account="acct", constraint="a100", sbatchArgs=["--requeue"]).executor.slurm
    assert script.sbatch_flags(spec, cluster(), after=["12"]) == [
        "--partition=batch", "--account=acct", "--nodes=2", "--ntasks-per-node=1", "--gpus-per-node=8", "--mem=400G",
        "--constraint=a100", "--dependency=afterok:12", "--requeue", "--comment=trainer",
        ":",
        "--partition=batch", "--account=acct", "--nodes=1", "--ntasks-per-node=4", "--cpus-per-task=8", "--time=10",
        "--gres=krtoken:1", "--constraint=a100"]


def test_each_component_runs_in_its_own_het_group_with_its_own_log_and_outputs():
    text = script.batch_script(het_task({}, {"env": {"ROLE": "data"}}), cluster(), PLACE)
    assert 'srun --het-group=0 --output="$KUBERUN_DIR/het-0/output.log"' in text
    assert 'srun --het-group=1 --output="$KUBERUN_DIR/het-1/output.log"' in text
    assert "env KUBERUN_HET_INDEX=1 " in text and " ROLE=data python -m kuberun.runner" in text
    assert "export KUBERUN_HET_SIZE=2" in text


def _run(text: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in (("srun", FAKE_SRUN), ("python", FAKE_PYTHON)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    work = tmp_path / "attempt"
    work.mkdir(exist_ok=True)
    return subprocess.run(["bash", "-c", text], cwd=work, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env})


@pytest.mark.parametrize("value", HOSTILE)
def test_a_component_s_env_reaches_only_its_step_verbatim_and_executes_nothing(value, tmp_path):
    value = value.replace("/tmp/pwned", str(tmp_path / "pwned"))
    text = script.batch_script(het_task({}, {"env": {"V": value, "ROLE": "data"}}), cluster(), PLACE)
    done = _run(text, tmp_path)
    assert done.returncode == 0, done.stderr
    logs = [(tmp_path / "attempt" / f"het-{i}" / "output.log").read_text() for i in (0, 1)]
    assert logs[0].startswith("index=0 size=2 role= v= summary=") and "/het-0/summary.json" in logs[0]
    assert logs[1] == f"index=1 size=2 role=data v={value} summary={tmp_path}/attempt/het-1/summary.json\n"
    assert not (tmp_path / "pwned").exists()
    # Component 0's outputs are the attempt's own: the bridge reads summary.json where a plain job leaves it.
    assert os.readlink(tmp_path / "attempt" / "summary.json") == "het-0/summary.json"


def test_a_failing_component_fails_the_job_with_its_exit_code_and_says_which_in_its_log(tmp_path):
    done = _run(script.batch_script(het_task(), cluster(), PLACE), tmp_path, FAIL="1")
    assert done.returncode == 7
    assert "kuberun: het component 1 of 2 exited with code 7" in (tmp_path / "attempt/het-1/output.log").read_text()
    assert "het component 1 of 2 exited with code 7" in done.stderr


def test_the_submit_lookup_takes_the_het_leader_the_lowest_id_with_the_attempt_s_name(tmp_path):
    key = PLACE.key
    command = script.submit_command(str(tmp_path / "d"), key, ["--nodes=1", ":", "--nodes=1"], (1, 1))
    # squeue lists both components by their own ids (a later one may sort first); a stranger's job is not ours.
    stub = f'squeue() {{ printf "%s\\n" "8|{key}" "7|{key}" "5|other"; }}\nexport -f squeue\n'
    done = subprocess.run(["bash", "-c", stub + command], input="", capture_output=True, text=True, timeout=30)
    assert done.stdout.split()[:2] == [script.FOUND, "7"], done.stderr


def test_squeue_het_rows_name_the_leader_s_components_and_a_failure_says_where_to_look():
    text = ("7|k|FAILED|NonZeroExitCode|2026-01-01T00:00:01|2026-01-01T00:00:05|1792|7|N/A|7|0|\n"
            "8|k|FAILED|NonZeroExitCode|2026-01-01T00:00:01|2026-01-01T00:00:05|1792|8|N/A|7|1|\n"
            "9|plain|RUNNING|None|2026-01-01T00:00:01|N/A|0|9|N/A|N/A|N/A|\n")
    jobs = parse_squeue(text)
    assert jobs["7"].components == ("7+0", "7+1") and jobs["9"].components == ()
    seen = observed_from(jobs["7"], None)
    assert (seen.state, seen.exit_code, seen.components) == ("failed", 7, ("7+0", "7+1"))
    assert "a component of the het job (7+0, 7+1) failed" in (seen.message or "")


def test_logs_read_a_component_s_own_file():
    assert script.logs_command("/w", "k", False, 10, component=1) == "tail -n 10 /w/het-1/output.log"
    assert script.logs_command("/w", "k", False, 10) == "tail -n 10 /w/output.log"
