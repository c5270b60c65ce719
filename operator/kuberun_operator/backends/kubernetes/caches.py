"""What the operator's watches saw of its children: Jobs and pods, kept newest-first by resourceVersion.

kopf's handlers feed these (``handlers.py``); the Kubernetes backend reads them when it observes,
so a reconcile costs no API list call. Each ``put``/``remove`` returns the (namespace, experiment)
key whose reconcile the change concerns.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kuberun.resource.constants import LABEL_EXPERIMENT
from kuberun_operator.kube import resource_version


class JobCache:
    """Jobs by (namespace, experiment), fed by the operator's watch on kuberun-labelled Jobs."""

    def __init__(self) -> None:
        self._jobs: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)

    @staticmethod
    def _key(job: dict[str, Any]) -> tuple[str, str] | None:
        meta = job.get("metadata", {})
        experiment = meta.get("labels", {}).get(LABEL_EXPERIMENT)
        return (meta.get("namespace", ""), experiment) if experiment else None

    def put(self, job: dict[str, Any]) -> tuple[str, str] | None:
        key = self._key(job)
        if key is not None:
            old = self._jobs[key].get(job["metadata"]["name"])
            if old is None or resource_version(job) >= resource_version(old):
                self._jobs[key][job["metadata"]["name"]] = job
        return key

    def remove(self, job: dict[str, Any]) -> tuple[str, str] | None:
        key = self._key(job)
        if key is not None:
            self._jobs[key].pop(job["metadata"]["name"], None)
        return key

    def jobs(self, namespace: str, experiment: str) -> list[dict[str, Any]]:
        return list(self._jobs.get((namespace, experiment), {}).values())


class PodCache:
    """Pods of kuberun Jobs by (namespace, job name), fed by the operator's watch on labelled pods."""

    def __init__(self) -> None:
        self._pods: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)

    def put(self, pod: dict[str, Any], deleted: bool = False) -> tuple[str, str] | None:
        meta = pod.get("metadata", {})
        job = meta.get("labels", {}).get("job-name")
        if not job:
            return None
        pods = self._pods[(meta.get("namespace", ""), job)]
        if deleted:
            pods.pop(meta["name"], None)
        else:
            pods[meta["name"]] = pod
        experiment = meta.get("labels", {}).get(LABEL_EXPERIMENT)
        return (meta.get("namespace", ""), experiment) if experiment else None

    def pods(self, namespace: str, job: str) -> list[dict[str, Any]]:
        return list(self._pods.get((namespace, job), {}).values())
