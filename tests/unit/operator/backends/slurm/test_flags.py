"""Slurm executor parity: gres, constraint, exclude, exclusive, extra sbatch/srun flags, afterok.

What reaches sbatch's argv and the batch script, and what never can (a flag the grants govern,
a shell fragment, a second line).
"""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

import pytest

from kuberun.errors import InvalidExecutorError
from kuberun.resource import SlurmExecutor, TaskSpec
from kuberun_operator.backend_config import SlurmCluster
from kuberun_operator.backends.slurm import script

PLACE = script.AttemptPlace("ns", "exp", "train", 1, "uid-1-train-1")


def cluster() -> SlurmCluster:
    return SlurmCluster.model_validate({"name": "dgx", "host": "login", "workdir": "/lustre/kr", "partition": "batch"})


def task(**executor: Any) -> TaskSpec:
    return TaskSpec.model_validate({"name": "train", "script": {"command": ["true"]},
                                    "executor": {"slurm": {"cluster": "dgx", **executor}}})


def test_gres_constraint_exclude_exclusive_and_extra_flags_become_sbatch_flags_after_kuberuns_own():
    spec = task(gres="gpu:a100:8", constraint="a100&ib", exclude=["node3", "gpu[1-4]"], exclusive=True,
                sbatch_args=["--comment=sweep 7", "--signal=USR1@90", "--requeue"]).executor.slurm
    flags = script.sbatch_flags(spec, cluster())
    assert flags == ["--partition=batch", "--nodes=1", "--ntasks-per-node=1", "--gres=gpu:a100:8",
                     "--constraint=a100&ib", "--exclude=node3,gpu[1-4]", "--exclusive",
                     "--comment=sweep 7", "--signal=USR1@90", "--requeue"]


def test_unset_parity_fields_add_no_flags():
    assert script.sbatch_flags(task().executor.slurm, cluster()) == ["--partition=batch", "--nodes=1", "--ntasks-per-node=1"]


def test_afterok_names_every_parent_job_and_only_digits():
    flags = script.sbatch_flags(task().executor.slurm, cluster(), after=["12", "15"])
    assert "--dependency=afterok:12:15" in flags
    with pytest.raises(ValueError):
        script.sbatch_flags(task().executor.slurm, cluster(), after=["12;rm -rf /"])


def test_srun_args_run_the_task_through_srun_quoted():
    text = script.batch_script(task(srun_args=["--mpi=pmix", "--container-env=A,B", "--label"]), cluster(), PLACE)
    (line,) = [ln for ln in text.splitlines() if ln.startswith("srun")]
    assert line == "srun --mpi=pmix --container-env=A,B --label python -m kuberun.runner --config \"$KUBERUN_TASK_FILE\""
    assert "exec python -m kuberun.runner" not in text  # srun flags need a step


def test_an_srun_flag_value_with_shell_characters_stays_one_argument():
    text = script.batch_script(task(srun_args=["--container-env=$(touch /tmp/pwned);`id`"]), cluster(), PLACE)
    (line,) = [ln for ln in text.splitlines() if ln.startswith("srun")]
    argv = shlex.split(line)
    assert argv[1] == "--container-env=$(touch /tmp/pwned);`id`"
    # bash sees the same word: printf the line's arguments instead of running srun.
    out = subprocess.run(["bash", "-c", "srun() { printf '%s\\n' \"$@\"; }; " + line], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines()[0] == "--container-env=$(touch /tmp/pwned);`id`"


@pytest.mark.parametrize(("flag", "words"), [
    ("--partition=prio", "kuberun sets it from partition (checked against the cluster's allowedPartitions)"),
    ("--account=other", "allowedAccounts"),
    ("--qos=high", "allowedQos"),
    ("-p prio", "use the long form"),
    ("-pprio", "use the long form"),
    ("--chdir=/etc", "its own directory"),
    ("--output=/tmp/x", "beside the attempt"),
    ("--job-name=victim-key", "names each job after its attempt"),
    ("--dependency=afterany:1", "dependsOn"),
    ("--clusters=other", "not in the allowed extra flags"),
    ("--uid=0", "not in the allowed extra flags"),
    ("--wrap=id", "not in the allowed extra flags"),
    ("--comment=a\nid", "not of the form"),
    ("--comment a", "not of the form"),
    ("comment=a", "not of the form"),
])
def test_extra_sbatch_flags_outside_the_allow_list_are_refused_with_the_reason(flag, words):
    with pytest.raises(InvalidExecutorError, match="sbatch flag") as info:
        SlurmExecutor(cluster="dgx", sbatch_args=[flag])
    assert words in str(info.value)


@pytest.mark.parametrize("flag", ["--partition=prio", "--container-image=evil", "--jobid=5", "-N2"])
def test_extra_srun_flags_outside_the_allow_list_are_refused(flag):
    with pytest.raises(InvalidExecutorError, match="srun flag"):
        SlurmExecutor(cluster="dgx", srun_args=[flag])


@pytest.mark.parametrize(("field", "value"), [("gres", "gpu:8;id"), ("gres", "gpu 8"), ("constraint", "a100\nid"),
                                              ("constraint", "$(id)"), ("exclude", ["node1 node2"]), ("exclude", ["`id`"])])
def test_slurm_only_fields_take_slurms_grammar_not_shell(field, value):
    with pytest.raises(InvalidExecutorError, match=field):
        SlurmExecutor(cluster="dgx", **{field: value})


def test_exclude_takes_nemo_runs_single_string_too():
    assert SlurmExecutor(cluster="dgx", exclude="node[1-3]").exclude == ["node[1-3]"]


def test_a_record_that_bypassed_the_model_is_refused_by_the_script_builder():
    spec = task().executor.slurm.model_copy(update={"sbatch_args": ["--partition=prio"]})  # model_copy does not validate
    with pytest.raises(script.ScriptError, match="--partition"):
        script.sbatch_flags(spec, cluster())


def test_the_submit_command_refuses_a_parent_id_that_names_another_job():
    # A parent id from status counts only if Slurm says that job carries the parent attempt's key.
    fakes = ('squeue() { case "$*" in *"-j 12"*) echo victim-job ;; *) : ;; esac; }\n'
             'sacct() { :; }\nsbatch() { echo SUBMITTED; }\n')
    command = script.submit_command("/nonexistent/kuberun-test", "k", ["--dependency=afterok:12"], (0, 0),
                                    [("12", "uid-1-a-1")])
    done = subprocess.run(["bash", "-c", fakes + command], capture_output=True, text=True, input="", timeout=30)
    assert done.returncode == script.EXIT_PARENT_MISMATCH and "SUBMITTED" not in done.stdout
    assert "job 12 is not the parent attempt uid-1-a-1" in done.stderr
