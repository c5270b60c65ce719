"""The Experiment resource: pydantic models that are the single source of truth for the CRD.

Everything that reads or writes an Experiment (SDK, operator, CLI, CRD generator) goes through
these models, so the YAML a user applies, the CRD the API server enforces and the objects the
operator reconciles cannot drift apart.
"""

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
from kuberun.resource.spec import (
    ConfigMapChunk,
    ExperimentSpec,
    FiddleSource,
    RetryPolicy,
    ScriptSource,
    SourceInfo,
    TaskSpec,
)
from kuberun.resource.status import (
    ArchivedLog,
    ArrayIndexStatus,
    AttemptStatus,
    BackendRef,
    Condition,
    ExperimentPhase,
    ExperimentStatus,
    LogRef,
    TaskPhase,
    TaskStatus,
)

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
    "SourceInfo",
    "TaskPhase",
    "TaskSpec",
    "TaskStatus",
]
