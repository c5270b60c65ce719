"""Executors: where a task runs. A task names exactly one.

Each executor is a model with the fields a user of that backend needs, one module a backend
(``kubernetes``, ``slurm``, ``skypilot``, ``lepton``, ``local``) on the shared ``base``; ``choice``
holds ``Executor``, the one-of that a task spec carries. The operator maps each to the backend's
own objects (a Job, an sbatch script, a sky.Task, a Lepton job).

This package's names are the public face: ``kuberun.resource.executors.KubernetesExecutor`` (and
``kr.KubernetesExecutor``) stay where they were before the split.
"""

from __future__ import annotations

from kuberun.resource.executors.choice import BACKENDS, EXECUTOR_TYPES, Executor
from kuberun.resource.executors.kubernetes import KubernetesExecutor
from kuberun.resource.executors.lepton import LeptonExecutor, LeptonSecretEnv
from kuberun.resource.executors.local import LocalExecutor
from kuberun.resource.executors.skypilot import BUCKET_SCHEMES, SkypilotExecutor, SkyStorageMount
from kuberun.resource.executors.slurm import SlurmExecutor

__all__ = [
    "BACKENDS",
    "BUCKET_SCHEMES",
    "EXECUTOR_TYPES",
    "Executor",
    "KubernetesExecutor",
    "LeptonExecutor",
    "LeptonSecretEnv",
    "LocalExecutor",
    "SkyStorageMount",
    "SkypilotExecutor",
    "SlurmExecutor",
]
