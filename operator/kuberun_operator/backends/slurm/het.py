"""Heterogeneous jobs: one sbatch of several components, one ``srun --het-group`` per component.

Why one job and not one job per component: Slurm allocates a het job's components together and
starts them together (they share one job id, ``squeue`` shows ``ID+0``, ``ID+1``), which separate
jobs side by side never guarantee. The components' options go on the command line separated by
``:`` (never as ``#SBATCH hetjob`` lines: see ``script.py`` for why options travel as quoted
flags). The batch script runs in component 0's allocation; it starts every component's runner
with ``srun --het-group=<i>`` in the background, waits for all, and exits with the first failing
component's exit code, so the leader's state (``ID+0``) is the task's. Each component writes its
log, summary, metric series and artifacts under ``het-<i>/``; component 0's are also the
attempt's own (links in the attempt directory), so results, metrics and ``kuberun logs`` work as
for a plain job.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from kuberun.resource import SlurmExecutor, slurmflags
from kuberun.resource.slurmhet import SlurmHetComponent
from kuberun_operator.backend_config import SlurmCluster
from kuberun_operator.backends.slurm.flags import (
    RUNNER,
    container_flags,
    dependency_flags,
    env_assignments,
    extra_flags,
    job_wide_flags,
    node_flags,
    resource_flags,
)

OUTPUTS = (("KUBERUN_SUMMARY_FILE", "summary.json"), ("KUBERUN_METRICS_FILE", "metrics.jsonl"),
           ("KUBERUN_ARTIFACTS_DIR", "artifacts"))


def component_dir(index: int) -> str:
    """A component's directory, relative to the attempt directory."""
    return f"het-{int(index)}"


def sbatch_flags(executor: SlurmExecutor, cluster: SlurmCluster, after: Sequence[str] = ()) -> list[str]:
    """Each component's flags, ``:`` between them. Partition, account, qos, constraint and exclude
    are repeated for each (sbatch does not carry them over to later components); the dependency
    and the executor's own extra flags go on component 0, which stands for the whole job."""
    flags: list[str] = []
    for i, component in enumerate(executor.resource_group):
        if i:
            flags.append(":")
        flags += job_wide_flags(executor, cluster)
        flags += resource_flags(component, component.ntasks_per_node)
        flags += node_flags(executor)
        if i == 0:
            flags += dependency_flags(after)
            flags += extra_flags(executor.sbatch_args, slurmflags.SBATCH_OPTIONS, "sbatch")
        flags += extra_flags(component.sbatch_args, slurmflags.SBATCH_OPTIONS, "sbatch")
    return flags


def launch_lines(executor: SlurmExecutor) -> list[str]:
    """The batch script's tail: the components' sruns in the background, then their joint exit."""
    size = len(executor.resource_group)
    dirs = " ".join(f'"$KUBERUN_DIR/{component_dir(i)}"' for i in range(size))
    lines = [f"export KUBERUN_HET_SIZE={size}",
             f"mkdir -p {dirs} \"$KUBERUN_DIR/{component_dir(0)}/artifacts\"",
             # Component 0's outputs are the attempt's: the bridge reads them where a plain job puts them.
             *(f'ln -sfn {component_dir(0)}/{name} "$KUBERUN_DIR/{name}"' for _, name in OUTPUTS),
             "pids=()"]
    for i, component in enumerate(executor.resource_group):
        lines += [_srun(executor, i, component), "pids+=($!)"]
    lines += [
        "rc=0",
        f"for i in $(seq 0 {size - 1}); do",
        '  wait "${pids[$i]}"; c=$?',
        '  if [ "$c" -ne 0 ]; then',
        f'    echo "kuberun: het component $i of {size} exited with code $c" | tee -a "$KUBERUN_DIR/het-$i/output.log" >&2',
        '    [ "$rc" -ne 0 ] || rc=$c',
        "  fi",
        "done",
        'exit "$rc"',
    ]
    return lines


def _srun(executor: SlurmExecutor, index: int, component: SlurmHetComponent) -> str:
    where = f'"$KUBERUN_DIR/{component_dir(index)}'
    extra = [*extra_flags(executor.srun_args, slurmflags.SRUN_OPTIONS, "srun"),
             *extra_flags(component.srun_args, slurmflags.SRUN_OPTIONS, "srun")]
    env = [f"KUBERUN_HET_INDEX={index}", *(f'{var}={where}/{name}"' for var, name in OUTPUTS),
           *env_assignments(component.env)]
    srun = ["srun", f"--het-group={index}", f'--output={where}/output.log"', *container_flags(executor),
            *(shlex.quote(f) for f in extra)]
    # `env` sets this component's variables inside its step only; the executor's are exported already.
    return f'{" ".join(srun)} env {" ".join(env)} {RUNNER} --config "$KUBERUN_TASK_FILE" &'
