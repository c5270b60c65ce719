"""kuberun: configure, execute and manage ML experiments, Kubernetes-natively.

    import kuberun as kr

    with kr.Experiment("hello") as exp:
        exp.add(kr.Partial(train, lr=3e-4), name="train", executor=kr.KubernetesExecutor(gpus=1))
        exp.run()

Names are resolved lazily (PEP 562), so ``import kuberun`` stays cheap: Fiddle, pydantic and the
Kubernetes client load only when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "kuberun.configure",
    "Partial": "kuberun.configure",
    "Script": "kuberun.configure",
    "Experiment": "kuberun.experiment",
    "KubernetesExecutor": "kuberun.resource.executors",
    "SlurmExecutor": "kuberun.resource.executors",
    "SlurmHetComponent": "kuberun.resource.slurmhet",
    "SkypilotExecutor": "kuberun.resource.executors",
    "LeptonExecutor": "kuberun.resource.executors",
    "LocalExecutor": "kuberun.resource.executors",
    "list_experiments": "kuberun.manage.remote",
    "RemoteExperiment": "kuberun.manage.remote",
    "KuberunError": "kuberun.errors",
    "InvalidExperimentError": "kuberun.errors",
    "ConfigSerializationError": "kuberun.errors",
    "run": "kuberun.quickrun",
    "Plugin": "kuberun.nemorun",
    "FaultTolerance": "kuberun.launchers",
    "Packager": "kuberun.packaging",
    "GitArchivePackager": "kuberun.packaging",
    "PatternPackager": "kuberun.packaging",
    "HybridPackager": "kuberun.packaging",
    "log_metrics": "kuberun.metrics",
    "artifacts_dir": "kuberun.artifacts",
}
# Submodules reached as attributes: ``kr.cli`` is NeMo Run's ``run.cli`` (entrypoints, factories).
_SUBMODULES = {"cli": "kuberun.cli"}

__all__ = [  # noqa: RUF022 - grouped as the README introduces them
    "__version__",
    "Config",
    "Partial",
    "Script",
    "Experiment",
    "KubernetesExecutor",
    "SlurmExecutor",
    "SlurmHetComponent",
    "SkypilotExecutor",
    "LeptonExecutor",
    "LocalExecutor",
    "list_experiments",
    "RemoteExperiment",
    "KuberunError",
    "InvalidExperimentError",
    "ConfigSerializationError",
    "run",
    "Plugin",
    "FaultTolerance",
    "cli",
    "Packager",
    "GitArchivePackager",
    "PatternPackager",
    "HybridPackager",
    "log_metrics",
    "artifacts_dir",
]

if TYPE_CHECKING:
    from kuberun.artifacts import artifacts_dir
    from kuberun.configure import Config, Partial, Script
    from kuberun.errors import ConfigSerializationError, InvalidExperimentError, KuberunError
    from kuberun.experiment import Experiment
    from kuberun.launchers import FaultTolerance
    from kuberun.manage.remote import RemoteExperiment, list_experiments
    from kuberun.metrics import log_metrics
    from kuberun.nemorun import Plugin
    from kuberun.packaging import GitArchivePackager, HybridPackager, Packager, PatternPackager
    from kuberun.quickrun import run
    from kuberun.resource.executors import (
        KubernetesExecutor,
        LeptonExecutor,
        LocalExecutor,
        SkypilotExecutor,
        SlurmExecutor,
    )
    from kuberun.resource.slurmhet import SlurmHetComponent


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kuberun' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
