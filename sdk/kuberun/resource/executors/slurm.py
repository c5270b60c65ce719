"""The Slurm executor: a task bridged to a Slurm cluster the operator's admin configured by name.

Its fields are sbatch's and srun's (checked against allow-lists in ``slurmflags``), with job arrays
(``slurmarray``) and heterogeneous jobs (``slurmhet``); the operator's Slurm bridge writes the script.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from kuberun.resource import slurmarray, slurmflags, slurmhet
from kuberun.resource.constants import MAX_NAME, MAX_RESTARTS
from kuberun.resource.executors import base
from kuberun.resource.types import EnvVars


class SlurmExecutor(base.UserExecutor):
    """Bridge the task to a Slurm cluster that the operator's admin configured by name.

    Example::

        kr.SlurmExecutor(cluster="draco", partition="batch", nodes=2, gpus_per_node=8,
                         time_limit="04:00:00", container_image="nvcr.io/nvidia/nemo:24.05")
    """

    cluster: str = Field(..., min_length=1, max_length=MAX_NAME, description="Slurm cluster name from the operator's configuration.")
    partition: str | None = Field(None, max_length=128)
    account: str | None = Field(None, max_length=128)
    qos: str | None = Field(None, max_length=128)
    nodes: int = Field(1, ge=1, le=4096)
    ntasks_per_node: int = Field(1, ge=1, le=256)
    gpus_per_node: int = Field(0, ge=0, le=64)
    cpus_per_task: int | None = Field(None, ge=1, le=1024)
    memory: str | None = Field(None, max_length=32, description="sbatch --mem, e.g. '64G'.")
    time_limit: str | None = Field(None, max_length=32, pattern=r"^(\d+-)?\d+(:\d{1,2}){0,2}$", description="sbatch --time, e.g. '04:00:00' or '1-00:00:00'.")
    launcher: Literal["none", "torchrun"] = "none"
    max_restarts: int = Field(0, ge=0, le=MAX_RESTARTS, description=base.MAX_RESTARTS_HELP)
    container_image: str | None = Field(None, max_length=512, description="pyxis --container-image.")
    container_mounts: list[str] = Field(default_factory=list, max_length=32, description="pyxis --container-mounts entries.")
    env: EnvVars = Field(default_factory=dict)
    setup: list[str] = Field(default_factory=list, max_length=64, description="Shell lines run before the task (module load, venv activate).")
    gres: str | None = Field(None, max_length=256, pattern=slurmflags.GRES_PATTERN, description="sbatch --gres, e.g. 'gpu:a100:8'.")
    constraint: str | None = Field(None, max_length=256, pattern=slurmflags.CONSTRAINT_PATTERN, description="sbatch --constraint: node features, e.g. 'a100&ib'.")
    exclude: list[Annotated[str, StringConstraints(pattern=slurmflags.HOSTLIST_PATTERN, max_length=256)]] = Field(
        default_factory=list, max_length=64, description="sbatch --exclude: node names or hostlists, e.g. 'node[1-3]'.")
    exclusive: bool = Field(False, description="sbatch --exclusive: no other job shares the nodes.")
    sbatch_args: list[slurmflags.SbatchFlag] = Field(
        default_factory=list, max_length=32, description="Extra sbatch flags, each '--name' or '--name=value' from an allow-list (docs/slurm.md).")
    srun_args: list[slurmflags.SrunFlag] = Field(
        default_factory=list, max_length=32, description="Extra srun flags for the task's step, each '--name' or '--name=value' from an allow-list.")

    array: str | None = Field(None, max_length=256, pattern=slurmarray.ARRAY_PATTERN, description=(
        "sbatch --array: a count (4 = '0-3') or Slurm's spec ('0-15:4', '1,3,5%2'); at most "
        f"{slurmarray.MAX_ARRAY_INDICES} indices, each recorded with its state and exit code."))
    heterogeneous: bool = Field(False, description="One het job (sbatch ... : ...) of the resource_group's components.")
    resource_group: list[slurmhet.SlurmHetComponent] = Field(
        default_factory=list, max_length=slurmhet.MAX_COMPONENTS, description=(
            "The het job's components (2 or more), each with its own resources; one srun --het-group per component."))

    @model_validator(mode="after")
    def _het_group(self) -> SlurmExecutor:
        slurmhet.check_group(self.heterogeneous, self.resource_group, self.model_fields_set,
                             {f: getattr(self, f) for f in slurmhet.NOT_WITH_HET})
        return self

    @model_validator(mode="before")
    @classmethod
    def _launcher(cls, data: Any) -> Any:
        return base.launcher_object(data, "nodes", "ntasks_per_node" if isinstance(data, dict) and "ntasks_per_node" in data
                                else "ntasksPerNode")

    @field_validator("array", mode="before")
    @classmethod
    def _array_count(cls, value: Any) -> Any:
        return None if value is None else slurmarray.array_spec(value)

    @field_validator("array")
    @classmethod
    def _array_bounded(cls, value: str | None) -> str | None:
        if value is not None:
            slurmarray.array_indices(value)  # ValueError names the problem
        return value

    @field_validator("exclude", mode="before")
    @classmethod
    def _hostlist_string(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # NeMo Run writes exclude="node1,node[4-5]"
