"""The Lepton executor: a task bridged to a DGX Cloud Lepton workspace configured in the operator.

One process per replica: torchrun runs across replicas, so in-job restarts across replicas need it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from kuberun.resource.base import KubeModel
from kuberun.resource.constants import MAX_NAME, MAX_RESTARTS
from kuberun.resource.executors import base
from kuberun.resource.types import EnvVars


class LeptonSecretEnv(KubeModel):
    """An environment variable whose value comes from a Lepton workspace secret."""

    name: str = Field(..., max_length=128)
    secret: str = Field(..., max_length=128)


class LeptonExecutor(base.UserExecutor):
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
    max_restarts: int = Field(0, ge=0, le=MAX_RESTARTS, description=base.MAX_RESTARTS_HELP)
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
        return base.launcher_object(data, "replicas", "-")  # one process per replica: torchrun from 2 replicas

    @model_validator(mode="after")
    def _restarts_need_torchrun_across_replicas(self) -> LeptonExecutor:
        if self.replicas > 1 and self.max_restarts and self.launcher != "torchrun":
            raise ValueError("max_restarts with replicas > 1 needs launcher='torchrun' (kr.FaultTolerance sets it)")
        return self
