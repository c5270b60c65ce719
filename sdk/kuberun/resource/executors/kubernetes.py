"""The Kubernetes executor: a task run as a ``batch/v1`` Job of the operator's own cluster.

Its fields are what a pod spec needs (image, resources, volumes, scheduling, Kueue's queue); the
operator's ``backends/kubernetes/manifests.py`` maps them to the Job and its pods.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kuberun.resource.constants import MAX_NAME, MAX_RESTARTS
from kuberun.resource.executors import base
from kuberun.resource.types import EnvVars, Quantity


class KubernetesExecutor(base.UserExecutor):
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
    max_restarts: int = Field(0, ge=0, le=MAX_RESTARTS, description=base.MAX_RESTARTS_HELP)
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

    _normalize = field_validator("cpu", "memory", mode="before")(base.quantity)

    @model_validator(mode="before")
    @classmethod
    def _launcher(cls, data: Any) -> Any:
        return base.launcher_object(data, "nodes", "procs_per_node" if isinstance(data, dict) and "procs_per_node" in data
                                else "procsPerNode")

    @model_validator(mode="after")
    def _torchrun_needs_launcher(self) -> KubernetesExecutor:
        if self.procs_per_node > 1 and self.launcher == "none":
            raise ValueError("procs_per_node > 1 needs launcher='torchrun'")
        if self.max_restarts and self.command is not None:
            raise ValueError("max_restarts needs the runner: a custom command is not restarted (drop command, or restart in it)")
        return self
