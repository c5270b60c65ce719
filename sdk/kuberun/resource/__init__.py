"""The Experiment resource: pydantic models that are the single source of truth for the CRD.

Everything that reads or writes an Experiment (SDK, operator, CLI, CRD generator) goes through
these models, so the YAML a user applies, the CRD the API server enforces and the objects the
operator reconciles cannot drift apart.

Names resolve lazily (PEP 562), as in ``kuberun/__init__.py``: a read path that needs only
``kuberun.resource.times`` or ``.constants`` (the API client, ``kuberun describe``) does not load
pydantic and every model with them (issue 18: ~100 ms of a CLI read command's start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "API_VERSION": "kuberun.resource.constants",
    "GROUP": "kuberun.resource.constants",
    "KIND": "kuberun.resource.constants",
    "PLURAL": "kuberun.resource.constants",
    "VERSION": "kuberun.resource.constants",
    "Executor": "kuberun.resource.executors",
    "KubernetesExecutor": "kuberun.resource.executors",
    "LeptonExecutor": "kuberun.resource.executors",
    "LocalExecutor": "kuberun.resource.executors",
    "SkypilotExecutor": "kuberun.resource.executors",
    "SlurmExecutor": "kuberun.resource.executors",
    "SlurmHetComponent": "kuberun.resource.slurmhet",
    "ExperimentResource": "kuberun.resource.experiment",
    "ObjectMeta": "kuberun.resource.experiment",
    "ConfigMapChunk": "kuberun.resource.spec",
    "ExperimentSpec": "kuberun.resource.spec",
    "FiddleSource": "kuberun.resource.spec",
    "RetryPolicy": "kuberun.resource.spec",
    "ScriptSource": "kuberun.resource.spec",
    "SourceInfo": "kuberun.resource.spec",
    "TaskSpec": "kuberun.resource.spec",
    "TaskCancel": "kuberun.resource.spec",
    "ArchivedLog": "kuberun.resource.status",
    "ArrayIndexStatus": "kuberun.resource.status",
    "AttemptStatus": "kuberun.resource.status",
    "BackendRef": "kuberun.resource.status",
    "Condition": "kuberun.resource.status",
    "ExperimentPhase": "kuberun.resource.phases",
    "ExperimentStatus": "kuberun.resource.status",
    "LogRef": "kuberun.resource.status",
    "TaskPhase": "kuberun.resource.phases",
    "TaskStatus": "kuberun.resource.status",
}

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "ArchivedLog",
    "ArrayIndexStatus",
    "AttemptStatus",
    "BackendRef",
    "Condition",
    "ConfigMapChunk",
    "Executor",
    "ExperimentPhase",
    "ExperimentResource",
    "ExperimentSpec",
    "ExperimentStatus",
    "FiddleSource",
    "KubernetesExecutor",
    "LeptonExecutor",
    "LocalExecutor",
    "LogRef",
    "ObjectMeta",
    "RetryPolicy",
    "ScriptSource",
    "SkypilotExecutor",
    "SlurmExecutor",
    "SlurmHetComponent",
    "SourceInfo",
    "TaskCancel",
    "TaskPhase",
    "TaskSpec",
    "TaskStatus",
]

if TYPE_CHECKING:
    from kuberun.resource.constants import API_VERSION, GROUP, KIND, PLURAL, VERSION
    from kuberun.resource.executors import (
        Executor,
        KubernetesExecutor,
        LeptonExecutor,
        LocalExecutor,
        SkypilotExecutor,
        SlurmExecutor,
    )
    from kuberun.resource.experiment import ExperimentResource, ObjectMeta
    from kuberun.resource.phases import ExperimentPhase, TaskPhase
    from kuberun.resource.slurmhet import SlurmHetComponent
    from kuberun.resource.spec import (
        ConfigMapChunk,
        ExperimentSpec,
        FiddleSource,
        RetryPolicy,
        ScriptSource,
        SourceInfo,
        TaskCancel,
        TaskSpec,
    )
    from kuberun.resource.status import (
        ArchivedLog,
        ArrayIndexStatus,
        AttemptStatus,
        BackendRef,
        Condition,
        ExperimentStatus,
        LogRef,
        TaskStatus,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kuberun.resource' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
