"""Pure builders for the Slurm bridge: the batch script, the sbatch flags and the remote commands.

Build (pure, spec -> text) is kept apart from apply (SSH, in ``slurm.py``), as dask-kubernetes
does with its manifests: everything here is tested without a cluster.

Safety rule: every user-supplied string reaches a shell only through ``shlex.quote``. sbatch
options travel as quoted command-line flags rather than ``#SBATCH`` lines, because sbatch parses
``#SBATCH`` lines with its own tokenizer and a newline in a value would end the comment and become
a shell line of the batch script. Setup lines (the executor's ``setup`` and the cluster's
``pythonSetup``) are the one deliberate exception: they *are* shell, written by the user and the
admin to run before the task, exactly like the task itself.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from kuberun.resource import SlurmExecutor, TaskSpec, slurmflags
from kuberun_operator.backend_config import SlurmCluster
from kuberun_operator.backends.slurm import het
from kuberun_operator.backends.slurm.flags import (
    RUNNER,
    ScriptError,
    container_flags,
    dependency_flags,
    env_assignments,
    extra_flags,
    job_wide_flags,
    node_flags,
    resource_flags,
)

__all__ = ["RUNNER", "ScriptError"]  # re-exported: the bridge and the tests name them as script.*

# Exit codes of the submit command, so the backend can tell where it stopped.
EXIT_LOOKUP_FAILED, EXIT_WORKDIR_FAILED, EXIT_SBATCH_FAILED, EXIT_PARENT_MISMATCH = 90, 91, 92, 93
FOUND, SUBMITTED = "kuberun-found", "kuberun-submitted"
CODE_FILE = "code.tar.gz"  # a task's code package, written next to task.json when it ships one
# squeue --Format fields; `:|` means "no padding, then a `|`", so names are never truncated.
# ArrayJobID/ArrayTaskID: an array's elements are grouped under the id sbatch returned (arrays.py);
# HetJobID/HetJobOffset: a het job's components (their own ids) under the leader's (het.py).
SQUEUE_FIELDS = ("JobID", "Name", "State", "Reason", "StartTime", "EndTime", "exit_code", "ArrayJobID", "ArrayTaskID",
                 "HetJobID", "HetJobOffset")
SACCT_FIELDS = ("JobID", "JobName", "State", "ExitCode", "Start", "End")


@dataclass(frozen=True)
class AttemptPlace:
    """Who the attempt is, for paths and the environment of the job."""

    namespace: str
    experiment: str
    task: str
    attempt: int
    key: str  # the idempotency key, also the Slurm job name


def attempt_dir(workdir: str, place: AttemptPlace) -> str:
    """A shell expression for ``<workdir>/<namespace>/<experiment>/<task>/<attempt>``.

    The namespace is part of the path because two namespaces may each hold an experiment of the
    same name. A leading ``~/`` becomes ``$HOME`` (a quoted ``~`` would not expand).
    """
    tail = "/".join([place.namespace, place.experiment, place.task, str(place.attempt)])
    if workdir == "~" or workdir.startswith("~/"):
        rest = workdir[2:].strip("/")
        return '"$HOME"/' + shlex.quote(f"{rest}/{tail}" if rest else tail)
    return shlex.quote(f"{workdir.rstrip('/')}/{tail}")


def sbatch_flags(executor: SlurmExecutor, cluster: SlurmCluster, after: Sequence[str] = ()) -> list[str]:
    """The executor's resources as sbatch flags (unquoted; the caller quotes each).

    ``after``: Slurm job ids this job waits for (``--dependency=afterok``), the parents' jobs.
    A heterogeneous executor's flags are its components' separated by ``:`` (``het.sbatch_flags``).
    """
    if executor.heterogeneous:
        return het.sbatch_flags(executor, cluster, after)
    # torchrun starts the per-node processes itself: Slurm runs one launcher per node.
    per_node = 1 if executor.launcher == "torchrun" else executor.ntasks_per_node
    flags = [*job_wide_flags(executor, cluster), *resource_flags(executor, per_node), *node_flags(executor)]
    if executor.exclusive:
        flags.append("--exclusive")
    if executor.array:
        flags.append(f"--array={executor.array}")
        flags.append("--open-mode=append")  # every index writes output.log: none truncates the others' lines
    flags += dependency_flags(after)
    # Extra flags last; the model allowed each (kuberun.resource.slurmflags), and none repeats one above.
    return [*flags, *extra_flags(executor.sbatch_args, slurmflags.SBATCH_OPTIONS, "sbatch")]


def batch_script(task: TaskSpec, cluster: SlurmCluster, place: AttemptPlace) -> str:
    """The job's batch script. It runs in the attempt directory (sbatch ``--chdir``)."""
    executor = task.executor.slurm
    assert executor is not None
    lines = [
        "#!/bin/bash",
        f"# kuberun: experiment {_comment(place.namespace)}/{_comment(place.experiment)}, "
        f"task {_comment(place.task)}, attempt {place.attempt}",
        'export KUBERUN_DIR="$PWD"',
        'export KUBERUN_TASK_FILE="$KUBERUN_DIR/task.json"',
        f"export KUBERUN_NAMESPACE={shlex.quote(place.namespace)}",
        f"export KUBERUN_EXPERIMENT={shlex.quote(place.experiment)}",
        f"export KUBERUN_TASK={shlex.quote(place.task)}",
        f"export KUBERUN_ATTEMPT={place.attempt}",
        # The run summary, the metric series and the artifacts stay in the attempt directory (results.py).
        *(_array_outputs() if executor.array else [
            'export KUBERUN_SUMMARY_FILE="$KUBERUN_DIR/summary.json"',
            'export KUBERUN_METRICS_FILE="$KUBERUN_DIR/metrics.jsonl"',
            'export KUBERUN_ARTIFACTS_DIR="$KUBERUN_DIR/artifacts"']),
        # A code package is unpacked once per node, under the attempt's directory, for all ranks there.
        *(['export KUBERUN_CODE_CACHE="$KUBERUN_DIR/code-cache"'] if task.code is not None else []),
        *_env_lines(executor.env),
        # A failing setup line must fail the job, not run the task in a half-made environment.
        "set -eo pipefail",
        *_setup_block("cluster python setup", cluster.python_setup.splitlines() if cluster.python_setup else []),
        *_setup_block("executor setup", executor.setup),
        "set +eo pipefail",
        *_launch_lines(executor),
    ]
    return "\n".join(lines) + "\n"


def _array_outputs() -> list[str]:
    """Each index of an array keeps its own summary, series and artifacts, under ``index-<N>/``."""
    return ['export KUBERUN_ARRAY_INDEX="$SLURM_ARRAY_TASK_ID"',
            'mkdir -p "$KUBERUN_DIR/index-$SLURM_ARRAY_TASK_ID"',
            'export KUBERUN_SUMMARY_FILE="$KUBERUN_DIR/index-$SLURM_ARRAY_TASK_ID/summary.json"',
            'export KUBERUN_METRICS_FILE="$KUBERUN_DIR/index-$SLURM_ARRAY_TASK_ID/metrics.jsonl"',
            'export KUBERUN_ARTIFACTS_DIR="$KUBERUN_DIR/index-$SLURM_ARRAY_TASK_ID/artifacts"']


def _comment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "?", text)  # a comment line must stay one line


def _env_lines(env: dict[str, str]) -> list[str]:
    return [f"export {assignment}" for assignment in env_assignments(env)]


def _setup_block(title: str, lines: list[str]) -> list[str]:
    return [f"# {title}", *lines] if lines else []


def _launch_lines(executor: SlurmExecutor) -> list[str]:
    if executor.heterogeneous:
        return het.launch_lines(executor)
    extra = [shlex.quote(f) for f in extra_flags(executor.srun_args, slurmflags.SRUN_OPTIONS, "srun")]
    srun = ["srun", *container_flags(executor), *extra]
    if executor.launcher == "torchrun":
        return [
            'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)"',
            "export MASTER_ADDR MASTER_PORT=29500",
            # Single quotes: $SLURM_NODEID must expand on each node, inside the step.
            f"{' '.join(srun)} --ntasks-per-node=1 bash -c 'export NODE_RANK=$SLURM_NODEID; exec torchrun "
            '--nnodes="$SLURM_NNODES" --node-rank="$SLURM_NODEID" '
            f"--nproc-per-node={executor.ntasks_per_node} "
            + (f"--max-restarts={executor.max_restarts} " if executor.max_restarts else "")
            + '--master-addr="$MASTER_ADDR" --master-port="$MASTER_PORT" '
            "-m kuberun.runner --config \"$KUBERUN_TASK_FILE\"'",
        ]
    if executor.nodes == 1 and executor.ntasks_per_node == 1 and not executor.container_image and not extra:
        return [f'exec {RUNNER} --config "$KUBERUN_TASK_FILE"']
    return [f'{" ".join(srun)} {RUNNER} --config "$KUBERUN_TASK_FILE"']


# -- remote commands ------------------------------------------------------------------------------


def submit_command(directory: str, key: str, flags: list[str], sizes: tuple[int, ...],
                   parents: Sequence[tuple[str, str]] = ()) -> str:
    """One remote shell run: look the key up, else write the files from stdin and sbatch.

    One SSH round trip per submission. stdin carries ``task.json``, ``job.sh`` and, when a third
    size is given, the task's code package (``code.tar.gz``); ``head -c`` never reads past its
    count, so they split cleanly. The
    lookup happens right before sbatch, so an operator that crashed after sbatch but before
    recording the job id finds the job instead of submitting a second one.

    ``parents``: (job id, key) pairs the job waits for (``--dependency=afterok`` in ``flags``).
    Before sbatch, each id must still name a job carrying that key, so an id written into status
    by someone else never makes the job wait for (or start after) a stranger's job.
    """
    q = shlex.quote
    # Exact names only: sacct's jobcomp/filetxt plugin ignores --name, so filter with awk too.
    # An array's elements print as 123_4 (sacct) or share %F, the id sbatch returned: that id is the job's.
    # A het job's components are jobs of their own carrying the key too (ids ID, ID+1, ...; sacct prints
    # ID+0, ID+1): the lowest id is the het leader, the id sbatch returned. So: sorted, the first one.
    exact = """awk -F'|' -v k="$key" '{split($1, a, /[_+]/)} a[1] ~ /^[0-9]+$/ && $2 == k {print a[1]}' | sort -n"""
    lookup = " || ".join([
        'sacct -n -P -X -S now-30days --name="$key" -o JobID,JobName 2>/dev/null',
        'sacct -c -n -P -S now-30days --name="$key" -o JobID,JobName 2>/dev/null',
    ])  # accounting via slurmdbd, else the jobcomp text file
    sbatch = " ".join(["sbatch", "--parsable", '--job-name="$key"', '--chdir="$D"',
                       '--output="$D/output.log"', *(q(f) for f in flags), "job.sh"])
    return "\n".join([
        "export TZ=UTC",
        f"key={q(key)}",
        f"D={directory}",
        f'ids="$(squeue -h --me -t all --name="$key" -o "%F|%j")" || {{ cat >/dev/null; exit {EXIT_LOOKUP_FAILED}; }}',
        f'ids="$(printf "%s\\n" "$ids" | {exact})"',
        f'[ -n "$ids" ] || ids="$( ({lookup}) | {exact})"',
        f'if [ -n "$ids" ]; then cat >/dev/null; set -- $ids; echo "{FOUND} $1 $D"; exit 0; fi',
        *(f'[ "$(squeue -h --me -t all -j {int(job_id)} -o %j 2>/dev/null)" = {q(parent)} ] || '
          f'{{ cat >/dev/null; echo "job {int(job_id)} is not the parent attempt {parent}" >&2; exit {EXIT_PARENT_MISMATCH}; }}'
          for job_id, parent in parents),
        # 0700 directories and 0600 files: with per-namespace identities, no tenant reads another's.
        "umask 077",
        f'mkdir -p "$D" && cd "$D" || {{ cat >/dev/null; exit {EXIT_WORKDIR_FAILED}; }}',
        f"head -c {sizes[0]} > task.json && head -c {sizes[1]} > job.sh"
        + (f" && head -c {sizes[2]} > {CODE_FILE}" if len(sizes) > 2 else "") + f" || exit {EXIT_WORKDIR_FAILED}",
        f'out="$({sbatch} 2>sbatch.err)" || {{ cat sbatch.err >&2; exit {EXIT_SBATCH_FAILED}; }}',
        f'echo "{SUBMITTED} ${{out%%;*}} $D"',
    ])


def poll_command() -> str:
    """Every job of the login user that the controller still knows, in one call."""
    fields = ",".join(f"{f}:|" for f in SQUEUE_FIELDS)
    return f"export TZ=UTC; squeue -h --me -t all -O {shlex.quote(fields)}"


def sacct_command(job_ids: list[str]) -> str:
    """Finished jobs the controller has forgotten (older than MinJobAge), in one call."""
    ids = ",".join(str(int(i)) for i in job_ids)  # ints only: these go into a shell
    fields = ",".join(SACCT_FIELDS)
    common = f"-n -P -S now-30days -j {ids} -o {fields}"
    return f"export TZ=UTC; sacct -X {common} 2>/dev/null || sacct -c {common}"


def cancel_command(key: str, job_id: str | None) -> str:
    """scancel by name (covers a job whose id was never recorded), and by id when known.

    The id comes from status, which others can write: it is cancelled only when squeue says the
    job of that id carries ``key`` as its name (the backend's own record of whose job it is), so
    a tampered id cancels nothing. Filters make scancel a no-op for finished or unknown jobs, so
    cancelling twice is fine.
    """
    q = shlex.quote(key)
    parts = [f"scancel --me --name={q}"]
    if job_id and job_id.isdigit():
        parts.append(f'if [ "$(squeue -h --me -t all -j {job_id} -o %j 2>/dev/null)" = {q} ]; then '
                     f"scancel --me --state=PENDING,RUNNING,SUSPENDED --jobs={job_id}; fi")
    return " && ".join(parts)


# The readers below take the attempt's directory as a shell expression (``attempt_dir``), computed
# from the Experiment as submit computed it: never a path read from status.


def summary_command(directory: str, limit: int) -> str:
    """Print the attempt's run summary (at most ``limit`` bytes); nothing when there is none."""
    return f"head -c {int(limit)} -- {directory}/summary.json 2>/dev/null; exit 0"


def artifacts_command(directory: str) -> str:
    """The attempt's ``artifacts/`` as a tar stream on stdout; nothing when it does not exist."""
    where = f"{directory}/artifacts"
    return f"if [ -d {where} ]; then tar -C {where} -cf - . 2>/dev/null; fi; exit 0"


def series_command(directory: str, limit: int = 64 << 20) -> str:
    """The attempt's metric series (``metrics.jsonl``), at most ``limit`` bytes; nothing when there is none."""
    return f"head -c {int(limit)} -- {directory}/metrics.jsonl 2>/dev/null; exit 0"


def logs_command(directory: str, job_name: str, follow: bool, tail: int | None, component: int | None = None) -> str:
    """Print (and with ``follow``, keep printing until the job ends) the attempt's ``output.log``.

    ``directory`` is a shell expression (``attempt_dir``); the job is found by its name (the
    attempt's key), never by an id from status. ``component``: a het job's component, whose log is
    ``het-<i>/output.log``."""
    start = f"-n {int(tail)}" if tail is not None else "-c +1"
    path = f"{directory}/output.log" if component is None else f"{directory}/het-{int(component)}/output.log"
    if not follow:
        return f"tail {start} {path}"
    active = (f"squeue -h --name={shlex.quote(job_name)} -t PENDING,CONFIGURING,RUNNING,COMPLETING,SUSPENDED "
              "-o %i 2>/dev/null | grep -q .")
    # A watcher lives as long as the job; tail --pid prints what is left, then exits with it.
    # -F waits for a pending job's file to appear.
    return (f"(while {active}; do sleep 2; done) & w=$!; "
            f"tail {start} -F --pid=$w {path} 2>/dev/null; exit 0")
