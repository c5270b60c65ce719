"""The SkyPilot executor: a task bridged to SkyPilot, as a managed job or on a named cluster.

Mounts take buckets only, checked here where the user writes them: the SkyPilot API server runs
beside the operator, so a local path would be read from the operator's disk, not the user's.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kuberun.resource.base import KubeModel
from kuberun.resource.constants import MAX_NAME, MAX_RESTARTS
from kuberun.resource.executors import base
from kuberun.resource.types import EnvVars

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


class SkypilotExecutor(base.UserExecutor):
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
    max_restarts: int = Field(0, ge=0, le=MAX_RESTARTS, description=base.MAX_RESTARTS_HELP + " torchrun runs from 2 nodes.")
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

    _normalize = field_validator("cpus", "memory", mode="before")(base.quantity)

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
