"""Executors: where a task runs. A task names exactly one.

Each executor is a model with the fields a user of that backend needs; the operator maps it to
the backend's own objects (a Job, an sbatch script, a sky.Task, a Lepton job).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from kuberun.resource import slurmarray, slurmflags, slurmhet
from kuberun.resource.base import KubeModel
from kuberun.resource.constants import MAX_NAME, MAX_RESTARTS
from kuberun.resource.types import EnvVars, Quantity


def _quantity(value: Any) -> Any:
    # Users write cpu=2 or memory="8Gi"; Kubernetes quantities are strings on the wire.
    if isinstance(value, bool):
        raise ValueError("a quantity must be a number or a string such as '500m' or '8Gi'")
    return str(value) if isinstance(value, int | float) else value


class _UserExecutor(KubeModel):
    """An executor a user constructs: a bad field is one ``InvalidExecutorError`` line naming it.

    Only direct construction (``kr.KubernetesExecutor(cpu="banana")``) and assignment are reworded;
    parsing a resource (the operator's path) still raises pydantic's error inside the resource's own.
    """

    #: NeMo Run's ``executor.packager``: a ``kuberun.packaging`` packager whose package ships with the
    #: task. Client-side only: never in the resource (``exclude``) nor the CRD; the spec records the
    #: package as ``tasks[].code`` (a CodeRef) instead.
    packager: SkipJsonSchema[Any] = Field(None, exclude=True, repr=False)

    @property
    def env_vars(self) -> dict[str, str]:
        """NeMo Run's name for ``env`` (the same dict: a plugin's ``executor.env_vars[k] = v`` sets it)."""
        return self.env  # type: ignore[attr-defined, no-any-return]

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _invalid(exc) from None

    # Marks this __init__ as pydantic's own, so validating a whole resource does not call it (a nested
    # executor stays a plain field error with its full path); only a user's direct call goes through it.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise _invalid(exc) from None


def _launcher_object(data: Any, nodes: str, procs: str) -> Any:
    """A launcher given as an object (``kr.FaultTolerance``) sets the fields it stands for.

    The trait is a method ``executor_fields(processes) -> dict``, so this module (the SDK's lowest
    layer) needs no import of the launchers themselves.
    """
    launcher = data.get("launcher") if isinstance(data, dict) else None
    if launcher is None or isinstance(launcher, str) or not hasattr(launcher, "executor_fields"):
        return data
    processes = int(data.get(nodes) or 1) * int(data.get(procs) or 1)
    return {**data, **launcher.executor_fields(processes)}


_MAX_RESTARTS_HELP = ("In-job restarts (kr.FaultTolerance): a failed task is restarted inside its attempt this many "
                      "times — by torchrun (--max-restarts) under launcher='torchrun', else by the runner; each "
                      "attempt records its count.")


def _invalid(exc: ValidationError) -> Exception:
    from kuberun.errors import InvalidExecutorError
    from kuberun.resource.errors_format import format_validation_error

    return InvalidExecutorError(format_validation_error(exc, [], what="executor"))


class KubernetesExecutor(_UserExecutor):
    """Run the task as a Kubernetes ``batch/v1`` Job (an Indexed Job when ``nodes > 1``).

    Example::

        kr.KubernetesExecutor(image="nvcr.io/nvidia/pytorch:24.05-py3", gpus=8, nodes=2,
                              launcher="torchrun", queue="team-a")

    Task pods are restricted by default (Pod Security ``restricted``: non-root, no privilege
    escalation, all capabilities dropped, seccomp RuntimeDefault, no service-account token unless
    ``service_account_name`` is set); ``pod_template`` can change any of it where the namespace allows.
    """

    image: str | None = Field(None, description="Container image; the operator's default task image when unset.")
    command: list[str] | None = Field(None, description="Overrides `python -m kuberun.runner`; the task file path is in $KUBERUN_TASK_FILE.")
    cpu: Quantity | None = Field(None, description="CPU request and limit, e.g. '2' or '500m'.")
    memory: Quantity | None = Field(None, description="Memory request and limit, e.g. '8Gi'.")
    gpus: int = Field(0, ge=0, le=64, description="GPUs per node, requested as nvidia.com/gpu.")
    nodes: int = Field(1, ge=1, le=1024, description="Pods (nodes); more than one makes an Indexed Job.")
    procs_per_node: int = Field(1, ge=1, le=64, description="Processes per node (torchrun --nproc-per-node).")
    launcher: Literal["none", "torchrun"] = Field("none", description="Process launcher inside each pod.")
    max_restarts: int = Field(0, ge=0, le=MAX_RESTARTS, description=_MAX_RESTARTS_HELP)
    env: EnvVars = Field(default_factory=dict, description="Environment variables.")
    env_from_secrets: list[str] = Field(default_factory=list, max_length=16, description="Names of Secrets whose keys become environment variables.")
    volumes: list[dict[str, Any]] = Field(default_factory=list, max_length=32, description="Pod volumes (core/v1 Volume).")
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list, max_length=32, description="Container volume mounts (core/v1 VolumeMount).")
    node_selector: dict[str, str] = Field(default_factory=dict, description="Pod nodeSelector.")
    tolerations: list[dict[str, Any]] = Field(default_factory=list, max_length=32, description="Pod tolerations.")
    service_account_name: str | None = Field(None, max_length=253)
    priority_class_name: str | None = Field(None, max_length=253)
    queue: str | None = Field(None, max_length=MAX_NAME, description="Kueue LocalQueue; sets kueue.x-k8s.io/queue-name and lets Kueue own suspend.")
    backoff_limit: int = Field(0, ge=0, le=100, description="Pod retries inside one attempt (Job backoffLimit).")
    active_deadline_seconds: int | None = Field(None, ge=1)
    image_pull_secrets: list[str] = Field(default_factory=list, max_length=16, description="Names of Secrets for pulling the image.")
    affinity: dict[str, Any] | None = Field(None, description="Pod affinity (core/v1 Affinity).")
    pod_labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on the task pods (kuberun's own win).")
    pod_annotations: dict[str, str] = Field(default_factory=dict, description="Extra annotations on the task pods.")
    pod_template: dict[str, Any] | None = Field(
        None, description="A core/v1 PodTemplateSpec merged onto the generated one (maps merged, lists of named "
        "items merged by name, other values replaced), as JobSet/TrainJob embed one; e.g. a securityContext.")

    _normalize = field_validator("cpu", "memory", mode="before")(_quantity)

    @model_validator(mode="before")
    @classmethod
    def _launcher(cls, data: Any) -> Any:
        return _launcher_object(data, "nodes", "procs_per_node" if isinstance(data, dict) and "procs_per_node" in data
                                else "procsPerNode")

    @model_validator(mode="after")
    def _torchrun_needs_launcher(self) -> KubernetesExecutor:
        if self.procs_per_node > 1 and self.launcher == "none":
            raise ValueError("procs_per_node > 1 needs launcher='torchrun'")
        if self.max_restarts and self.command is not None:
            raise ValueError("max_restarts needs the runner: a custom command is not restarted (drop command, or restart in it)")
        return self


class SlurmExecutor(_UserExecutor):
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
    max_restarts: int = Field(0, ge=0, le=MAX_RESTARTS, description=_MAX_RESTARTS_HELP)
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
        return _launcher_object(data, "nodes", "ntasks_per_node" if isinstance(data, dict) and "ntasks_per_node" in data
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


#: Where SkyPilot mounts may come from: buckets only. A local path would be read from the operator's
#: own disk by the SkyPilot API server and copied to the user's cluster (a way to read the operator).
BUCKET_SCHEMES = ("s3://", "gs://", "r2://", "cos://", "oci://", "https://")
_PORT_RANGE = re.compile(r"^[0-9]{1,5}(-[0-9]{1,5})?$")


def _bucket(source: str) -> str:
    if not source.startswith(BUCKET_SCHEMES):
        raise ValueError(f"mount source {source!r} is not a bucket URL ({', '.join(BUCKET_SCHEMES)}): a local path "
                         "would be read from the operator's machine, not yours")
    return source


def _remote_path(path: str) -> str:
    if not path.startswith(("/", "~/")) or "\n" in path:
        raise ValueError(f"mount path {path!r} must be absolute (or under ~/) on the cluster")
    return path


class SkyStorageMount(KubeModel):
    """A bucket mounted on the SkyPilot cluster (NeMo Run's ``storage_mounts`` value)."""

    source: str = Field(..., max_length=1024, description="A bucket URL, e.g. 's3://team-data/shards'.")
    mode: Literal["MOUNT", "COPY", "MOUNT_CACHED"] = "MOUNT"

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        return _bucket(source)


class SkypilotExecutor(_UserExecutor):
    """Bridge the task to SkyPilot, as a managed job (default) or on a named cluster.

    Example::

        kr.SkypilotExecutor(infra="aws/us-east-1", accelerators="H100:8", num_nodes=2, use_spot=True)
    """

    infra: str | None = Field(None, max_length=128, description="SkyPilot infra, e.g. 'aws', 'gcp/us-central1', 'k8s/my-context'.")
    cloud: str | None = Field(None, max_length=64)
    region: str | None = Field(None, max_length=64)
    zone: str | None = Field(None, max_length=64)
    accelerators: str | None = Field(None, max_length=64, description="e.g. 'H100:8'.")
    cpus: str | None = Field(None, max_length=16)
    memory: str | None = Field(None, max_length=16)
    num_nodes: int = Field(1, ge=1, le=1024)
    use_spot: bool = False
    image: str | None = Field(None, max_length=512, description="image_id, e.g. 'docker:nvcr.io/nvidia/pytorch:24.05-py3'.")
    disk_size: int | None = Field(None, ge=1)
    mode: Literal["managed", "cluster"] = "managed"
    max_restarts: int = Field(0, ge=0, le=MAX_RESTARTS, description=_MAX_RESTARTS_HELP + " torchrun runs from 2 nodes.")
    cluster_name: str | None = Field(None, max_length=MAX_NAME)
    env: EnvVars = Field(default_factory=dict)
    setup: list[str] = Field(default_factory=list, max_length=64)
    instance_type: str | None = Field(None, max_length=64, description="e.g. 'p4d.24xlarge' (or '4CPU--16GB' on k8s).")
    ports: list[str] = Field(default_factory=list, max_length=16, description="Ports to open: '8080' or '10000-10010'.")
    file_mounts: dict[str, str] = Field(default_factory=dict, max_length=16,
                                        description="Cluster path -> bucket URL, copied (buckets only, as the admin allows).")
    storage_mounts: dict[str, SkyStorageMount] = Field(default_factory=dict, max_length=16,
                                                       description="Cluster path -> bucket, mounted (as the admin allows).")
    idle_minutes_to_autostop: int | None = Field(None, ge=0, le=10080, description="mode='cluster': stop when idle.")
    autodown: bool = Field(False, description="mode='cluster': tear the cluster down (not just stop) when idle.")

    _normalize = field_validator("cpus", "memory", mode="before")(_quantity)

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, ports: Any) -> Any:
        if not isinstance(ports, list | tuple):
            return ports
        checked = []
        for port in ports:
            text = str(port) if isinstance(port, int) and not isinstance(port, bool) else port
            bounds = [int(p) for p in text.split("-")] if isinstance(text, str) and _PORT_RANGE.match(text) else []
            if not bounds or not all(1 <= b <= 65535 for b in bounds) or bounds != sorted(bounds):
                raise ValueError(f"port {port!r} is not a port (1-65535) or a range such as '10000-10010'")
            checked.append(text)
        return checked

    @field_validator("file_mounts")
    @classmethod
    def _file_mounts(cls, mounts: dict[str, str]) -> dict[str, str]:
        return {_remote_path(k): _bucket(v) for k, v in mounts.items()}

    @field_validator("storage_mounts")
    @classmethod
    def _storage_paths(cls, mounts: dict[str, SkyStorageMount]) -> dict[str, SkyStorageMount]:
        for path in mounts:
            _remote_path(path)
        return mounts

    @model_validator(mode="before")
    @classmethod
    def _launcher(cls, data: Any) -> Any:
        # No launcher field: torchrun runs when num_nodes > 1 (the run script); FaultTolerance gives its restarts.
        launcher = data.get("launcher") if isinstance(data, dict) else None
        if launcher is None or isinstance(launcher, str) or not hasattr(launcher, "executor_fields"):
            return data
        return {**{k: v for k, v in data.items() if k != "launcher"}, "max_restarts": launcher.executor_fields(1)["max_restarts"]}

    @property
    def launcher(self) -> str:
        """What the run script runs (torchrun across nodes), as the other executors name it."""
        return "torchrun" if self.num_nodes > 1 else "none"

    @model_validator(mode="after")
    def _cluster_mode_needs_name(self) -> SkypilotExecutor:
        if self.mode == "cluster" and not self.cluster_name:
            raise ValueError("mode='cluster' needs cluster_name")
        if self.mode != "cluster" and (self.idle_minutes_to_autostop is not None or self.autodown):
            raise ValueError("idle_minutes_to_autostop and autodown need mode='cluster' (a managed job's "
                             "clusters are SkyPilot's to stop)")
        return self


class LeptonSecretEnv(KubeModel):
    """An environment variable whose value comes from a Lepton workspace secret."""

    name: str = Field(..., max_length=128)
    secret: str = Field(..., max_length=128)


class LeptonExecutor(_UserExecutor):
    """Bridge the task to a Lepton (DGX Cloud Lepton) workspace configured in the operator.

    Example::

        kr.LeptonExecutor(resource_shape="gpu.8xh100-80gb", node_group="ng-1", replicas=2)
    """

    workspace: str | None = Field(None, max_length=MAX_NAME, description="Workspace name from the operator's configuration; the default workspace when unset.")
    resource_shape: str = Field(..., max_length=128)
    node_group: str | None = Field(None, max_length=128)
    image: str | None = Field(None, max_length=512)
    replicas: int = Field(1, ge=1, le=1024)
    launcher: Literal["none", "torchrun"] = "none"
    max_restarts: int = Field(0, ge=0, le=MAX_RESTARTS, description=_MAX_RESTARTS_HELP)
    env: EnvVars = Field(default_factory=dict)
    secret_env: list[LeptonSecretEnv] = Field(default_factory=list, max_length=32)
    mounts: list[dict[str, Any]] = Field(default_factory=list, max_length=16, description="Lepton mounts.")
    shared_memory_size: int | None = Field(None, ge=0, le=1024 * 1024, description="/dev/shm in MiB (NeMo Run's default: 65536).")
    node_reservation: str | None = Field(None, max_length=128, description="A reservation id of the workspace (as the admin allows).")
    image_pull_secrets: list[str] = Field(default_factory=list, max_length=8,
                                          description="Workspace image-pull secrets by name (as the admin allows).")

    @model_validator(mode="before")
    @classmethod
    def _launcher(cls, data: Any) -> Any:
        return _launcher_object(data, "replicas", "-")  # one process per replica: torchrun from 2 replicas

    @model_validator(mode="after")
    def _restarts_need_torchrun_across_replicas(self) -> LeptonExecutor:
        if self.replicas > 1 and self.max_restarts and self.launcher != "torchrun":
            raise ValueError("max_restarts with replicas > 1 needs launcher='torchrun' (kr.FaultTolerance sets it)")
        return self


class LocalExecutor(_UserExecutor):
    """Run the task as a local process of the operator (the sandbox; off by default elsewhere).

    Example::

        kr.LocalExecutor(env={"OMP_NUM_THREADS": "1"})
    """

    env: EnvVars = Field(default_factory=dict)


class Executor(KubeModel):
    """Exactly one backend for a task, under its backend's key (``kubernetes``, ``slurm``...)."""

    kubernetes: KubernetesExecutor | None = None
    slurm: SlurmExecutor | None = None
    skypilot: SkypilotExecutor | None = None
    lepton: LeptonExecutor | None = None
    local: LocalExecutor | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Executor:
        if len(self.backends_set()) != 1:
            raise ValueError(f"exactly one executor is required, got {self.backends_set() or 'none'}")
        return self

    def backends_set(self) -> list[str]:
        return [name for name in BACKENDS if getattr(self, name) is not None]

    @property
    def backend(self) -> str:
        """The backend's name: 'kubernetes', 'slurm', 'skypilot', 'lepton' or 'local'."""
        return self.backends_set()[0]

    @property
    def config(self) -> KubeModel:
        return getattr(self, self.backend)

    @classmethod
    def wrap(cls, executor: KubeModel) -> Executor:
        """``Executor.wrap(KubernetesExecutor(...))`` -> ``Executor(kubernetes=...)``."""
        for name, model in EXECUTOR_TYPES.items():
            if isinstance(executor, model):
                return cls(**{name: executor})
        raise TypeError(f"not an executor: {executor!r}")


EXECUTOR_TYPES: dict[str, type[KubeModel]] = {
    "kubernetes": KubernetesExecutor,
    "slurm": SlurmExecutor,
    "skypilot": SkypilotExecutor,
    "lepton": LeptonExecutor,
    "local": LocalExecutor,
}
BACKENDS = tuple(EXECUTOR_TYPES)
