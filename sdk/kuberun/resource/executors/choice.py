"""The executor a task names: exactly one backend's, under that backend's key.

The one place that lists the backends (``EXECUTOR_TYPES``, ``BACKENDS``): the CRD generator, the
entrypoints and NeMo Run's conversion read them from here, so adding a backend is one line.
"""

from __future__ import annotations

from pydantic import model_validator

from kuberun.resource.base import KubeModel
from kuberun.resource.executors.kubernetes import KubernetesExecutor
from kuberun.resource.executors.lepton import LeptonExecutor
from kuberun.resource.executors.local import LocalExecutor
from kuberun.resource.executors.skypilot import SkypilotExecutor
from kuberun.resource.executors.slurm import SlurmExecutor


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
