"""Build the Kubernetes backend's manifests for a test and check each against the real Kubernetes schema.

Shared by the manifest tests (``tests/unit/operator/backends/kubernetes/``): every object they look
at is first validated strictly (no unknown fields) against the Kubernetes 1.32 JSON schemas, so a
misspelled field fails there instead of on a cluster.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from kuberun_operator.backends.kubernetes.manifests import build_job
from kuberun_operator.backends.kubernetes.objectnames import ExperimentRef
from kuberun_operator.settings import Settings
from tests.helpers.builders import make_experiment, make_task

SETTINGS = Settings(default_image="registry.example/kuberun-task:1", image_pull_policy="Always", torchrun_port=29400)
EXP = make_experiment().obj()
K8S_VERSION = "1.32.0"


def valid(obj: dict[str, Any]) -> dict[str, Any]:
    """The object, after checking it against the Kubernetes schema for its kind."""
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    return obj


def job(task: Any = None, exp: ExperimentRef = EXP, attempt: int = 1, **kw: Any) -> dict[str, Any]:
    """A checked Job for ``task`` (a plain Kubernetes task when none) under the test settings."""
    return valid(build_job(exp, task or make_task().obj(), attempt, SETTINGS, **kw))


def pod_spec(built: dict[str, Any]) -> dict[str, Any]:
    return built["spec"]["template"]["spec"]


def container(built: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(built)["containers"]
    return only


def env(built: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(built)["env"]}
