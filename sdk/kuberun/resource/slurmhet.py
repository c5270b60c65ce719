"""One component of a heterogeneous Slurm job (``sbatch ... : ...``, docs/slurm.md "Heterogeneous jobs").

A het job is one job whose components get different resources — say a GPU trainer and CPU data
workers — and start together. Each component carries only what Slurm allocates per component
(nodes, tasks, CPUs, memory, gres, time, extra flags) and the environment of its ``srun
--het-group``; what is the job's as a whole (cluster, partition, account, qos, setup, container,
launcher) stays on the ``SlurmExecutor``. Extra flags pass the same allow-list as the executor's
(``slurmflags``), so a component can no more walk around the grants than a plain job can.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kuberun.resource import slurmflags
from kuberun.resource.base import KubeModel
from kuberun.resource.types import EnvVars

MIN_COMPONENTS, MAX_COMPONENTS = 2, 8


class SlurmHetComponent(KubeModel):
    """Resources of one het component; ``kr.SlurmExecutor(heterogeneous=True, resource_group=[...])``.

    Example::

        kr.SlurmExecutor(cluster="draco", heterogeneous=True, resource_group=[
            kr.SlurmHetComponent(nodes=2, gpus_per_node=8, memory="400G"),
            kr.SlurmHetComponent(ntasks_per_node=4, cpus_per_task=8, env={"ROLE": "data"})])
    """

    nodes: int = Field(1, ge=1, le=4096)
    ntasks_per_node: int = Field(1, ge=1, le=256)
    gpus_per_node: int = Field(0, ge=0, le=64)
    cpus_per_task: int | None = Field(None, ge=1, le=1024)
    memory: str | None = Field(None, max_length=32, description="sbatch --mem of this component, e.g. '64G'.")
    time_limit: str | None = Field(None, max_length=32, pattern=r"^(\d+-)?\d+(:\d{1,2}){0,2}$")
    gres: str | None = Field(None, max_length=256, pattern=slurmflags.GRES_PATTERN)
    env: EnvVars = Field(default_factory=dict, description="Set for this component's srun only, over the executor's env.")
    sbatch_args: list[slurmflags.SbatchFlag] = Field(
        default_factory=list, max_length=32, description="Extra sbatch flags of this component (the executor's allow-list).")
    srun_args: list[slurmflags.SrunFlag] = Field(
        default_factory=list, max_length=32, description="Extra srun flags of this component's step (the executor's allow-list).")


#: Executor fields that are per component in a het job: set them on each component instead.
PER_COMPONENT = ("nodes", "ntasks_per_node", "gpus_per_node", "cpus_per_task", "memory", "time_limit", "gres")
#: Executor fields a het job cannot have (one value for several components would mean nothing).
NOT_WITH_HET = {"array": "a job array of het jobs", "launcher": "launcher='torchrun' (one launcher per node of one "
                "allocation)", "max_restarts": "in-job restarts", "exclusive": "exclusive (set --exclusive in a "
                "component's sbatch_args)"}


def check_group(heterogeneous: bool, group: list[SlurmHetComponent], fields_set: set[str], values: dict[str, object]) -> None:
    """ValueError naming what to change, when ``heterogeneous``/``resource_group`` do not make one het job."""
    if not heterogeneous:
        if group:
            raise ValueError("resource_group is set but heterogeneous is not: set heterogeneous=True for a het job")
        return
    if not MIN_COMPONENTS <= len(group) <= MAX_COMPONENTS:
        raise ValueError(f"heterogeneous=True needs {MIN_COMPONENTS} to {MAX_COMPONENTS} resource_group components "
                         f"(got {len(group)}); a single component is a plain SlurmExecutor")
    per_component = sorted(f for f in PER_COMPONENT if f in fields_set)
    if per_component:
        raise ValueError(f"{', '.join(per_component)}: set per component in resource_group, not on the het executor")
    refused = [why for field, why in NOT_WITH_HET.items() if field in fields_set and values.get(field) not in
               (None, 0, False, "none")]
    if refused:
        raise ValueError(f"a heterogeneous job cannot have {'; '.join(refused)}")


# -- a het job's logs ---------------------------------------------------------------------------------
# ``kuberun logs`` of a het task shows every component: each line carries its component's label, the
# directory its log is in on the cluster (``het-<i>/``), in brackets, as ``run(tail_logs=True)``
# prefixes ``[task]``; the batch script's own lines come first as ``[job] ``. The operator labels (backends/slurm/hetlogs.py), the CLI reads the label back for
# ``-o json``, and an archived log, copied labelled, is filtered by it for ``--component``.


#: The prefix of the batch script's own lines (setup, srun's errors) in a het job's combined log.
JOB_LABEL = "[job] "


def component_label(index: int) -> str:
    """The prefix of component ``index``'s lines in a het job's combined log: ``[het-1] ``."""
    return f"[het-{int(index)}] "


def split_label(line: str) -> tuple[int | None, str]:
    """``(component, the line without its label)``; ``(None, line)`` for a line that carries none."""
    if line.startswith("[het-"):
        number, sep, rest = line[5:].partition("] ")
        if sep and number.isdigit() and len(number) == 1:
            return int(number), rest
    return None, line


def component_problem(task: str, heterogeneous: bool, size: int, component: int | None) -> str | None:
    """Why ``component`` names no log of ``task`` (a het job of ``size`` components), or None when it does."""
    if component is None:
        return None
    if not heterogeneous:
        return f"task {task!r} is not a heterogeneous Slurm job: it has no components (leave out --component)"
    if not 0 <= component < size:
        return f"task {task!r} has no het component {component}: its components are 0-{size - 1}"
    return None


def record_components(obj: dict[str, Any], task: str) -> int:
    """How many components ``task`` of an Experiment as stored (a dict) has: 0 unless a het job. From
    its spec, never its status."""
    spec = next((t for t in (obj.get("spec") or {}).get("tasks") or [] if t.get("name") == task), None) or {}
    slurm = (spec.get("executor") or {}).get("slurm") or {}
    return len(slurm.get("resourceGroup") or []) if slurm.get("heterogeneous") else 0


def record_problem(obj: dict[str, Any], task: str, component: int | None) -> str | None:
    """``component_problem`` for ``task`` of an Experiment as stored (a dict)."""
    size = record_components(obj, task)
    return component_problem(task, size > 0, size, component)
