"""Fluent fixture builders, after JobSet's ``MakeJobSet(...).Obj()``: a test states only what matters.

    task = make_task("train").nodes(2).torchrun(procs=8).gpus(8).obj()
    exp = make_experiment("llama").title("Llama 3 sweep").obj()        # the ExperimentRef manifests take
    res = make_resource().task("a").task("b", after=["a"], retries=1).obj()  # an ExperimentResource
    job = make_job_status().condition("Failed", "BackoffLimitExceeded").obj()
    pod = make_pod("train-0").terminated(137, reason="OOMKilled").obj()
"""

from __future__ import annotations

import hashlib
from typing import Any

from kuberun.resource import ExperimentResource
from kuberun.resource.spec import TaskSpec
from kuberun_operator.backends.kubernetes.objectnames import ExperimentRef

T0 = "2026-01-01T00:00:00Z"


class TaskBuilder:
    """A TaskSpec with a Kubernetes executor; a one-line script payload unless told otherwise."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._payload: dict[str, Any] = {"script": {"command": ["true"]}}
        self._executor: dict[str, Any] = {}
        self._backend = "kubernetes"

    def executor(self, **fields: Any) -> TaskBuilder:
        self._executor.update(fields)
        return self

    def image(self, image: str) -> TaskBuilder:
        return self.executor(image=image)

    def command(self, *argv: str) -> TaskBuilder:
        return self.executor(command=list(argv))

    def env(self, **env: str) -> TaskBuilder:
        return self.executor(env={**self._executor.get("env", {}), **env})

    def gpus(self, count: int) -> TaskBuilder:
        return self.executor(gpus=count)

    def nodes(self, count: int) -> TaskBuilder:
        return self.executor(nodes=count)

    def torchrun(self, procs: int = 1) -> TaskBuilder:
        return self.executor(launcher="torchrun", procs_per_node=procs)

    def queue(self, name: str) -> TaskBuilder:
        return self.executor(queue=name)

    def backend(self, name: str) -> TaskBuilder:
        self._backend = name
        return self

    def script(self, **script: Any) -> TaskBuilder:
        self._payload = {"script": script}
        return self

    def fiddle_inline(self, data: str = "eJyrVkrLz1eyUkpKLFKqBQAdsgRf") -> TaskBuilder:
        self._payload = {"fiddle": _fiddle(data, data=data)}
        return self

    def fiddle_chunks(self, *config_maps: str) -> TaskBuilder:
        refs = [{"name": name} for name in config_maps]
        self._payload = {"fiddle": _fiddle("".join(config_maps), config_map_refs=refs)}
        return self

    def obj(self) -> TaskSpec:
        executor = self._executor if self._backend == "kubernetes" else {}
        return TaskSpec.model_validate({"name": self._name, **self._payload, "executor": {self._backend: executor}})


def _fiddle(content: str, **location: Any) -> dict[str, Any]:
    return {"encoding": "fiddle-json+zlib+base64", "sha256": hashlib.sha256(content.encode()).hexdigest(),
            "size": len(content), **location}


def make_task(name: str = "train") -> TaskBuilder:
    return TaskBuilder(name)


class ExperimentBuilder:
    def __init__(self, name: str) -> None:
        self._ref = {"name": name, "namespace": "team-a", "uid": "0b6c1e4e-0000-4000-8000-000000000001",
                     "title": "Hello kuberun"}

    def namespace(self, namespace: str) -> ExperimentBuilder:
        self._ref["namespace"] = namespace
        return self

    def uid(self, uid: str) -> ExperimentBuilder:
        self._ref["uid"] = uid
        return self

    def title(self, title: str) -> ExperimentBuilder:
        self._ref["title"] = title
        return self

    def obj(self) -> ExperimentRef:
        return ExperimentRef(**self._ref)


def make_experiment(name: str = "hello-x7k2p") -> ExperimentBuilder:
    return ExperimentBuilder(name)


class ResourceBuilder:
    """An ExperimentResource as reconcile reads it: tasks with script payloads, any backend."""

    def __init__(self, name: str) -> None:
        self._tasks: list[dict[str, Any]] = []
        self._spec: dict[str, Any] = {}
        self._name = name

    def task(self, name: str, after: list[str] | None = None, retries: int = 0, backend: str = "kubernetes",
             **executor: object) -> ResourceBuilder:
        self._tasks.append({"name": name, "script": {"command": ["true"]}, "dependsOn": after or [],
                            "retries": {"limit": retries, "backoffSeconds": 10}, "executor": {backend: executor}})
        return self

    def spec(self, **fields: object) -> ResourceBuilder:
        self._spec.update(fields)
        return self

    def obj(self) -> ExperimentResource:
        return ExperimentResource.model_validate({
            "metadata": {"name": self._name, "namespace": "ns", "uid": "uid-1", "generation": 1},
            "spec": {"title": "t", "tasks": self._tasks, **self._spec},
        })


def make_resource(name: str = "exp") -> ResourceBuilder:
    return ResourceBuilder(name)


class JobStatusBuilder:
    """A Job as the API server returns it, reduced to what observation reads."""

    def __init__(self, name: str) -> None:
        self._job: dict[str, Any] = {"apiVersion": "batch/v1", "kind": "Job",
                                     "metadata": {"name": name, "labels": {}}, "spec": {}, "status": {}}

    def suspended(self, value: bool = True) -> JobStatusBuilder:
        self._job["spec"]["suspend"] = value
        return self

    def queue(self, name: str) -> JobStatusBuilder:
        self._job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = name
        return self

    def status(self, **fields: Any) -> JobStatusBuilder:
        self._job["status"].update(fields)
        return self

    def started(self, at: str = T0) -> JobStatusBuilder:
        return self.status(startTime=at)

    def condition(self, kind: str, reason: str | None = None, message: str | None = None,
                  at: str = T0, status: str = "True") -> JobStatusBuilder:
        condition = {"type": kind, "status": status, "lastTransitionTime": at}
        condition.update({k: v for k, v in (("reason", reason), ("message", message)) if v is not None})
        self._job["status"].setdefault("conditions", []).append(condition)
        return self

    def obj(self) -> dict[str, Any]:
        return self._job


def make_job_status(name: str = "hello-x7k2p-train-1") -> JobStatusBuilder:
    return JobStatusBuilder(name)


class PodBuilder:
    """A pod of an attempt, with the `task` container's state."""

    def __init__(self, name: str) -> None:
        self._pod: dict[str, Any] = {"metadata": {"name": name}, "status": {"phase": "Running", "containerStatuses": []}}

    def _container(self) -> dict[str, Any]:
        statuses = self._pod["status"]["containerStatuses"]
        if not statuses:
            statuses.append({"name": "task", "state": {}, "lastState": {}})
        return statuses[0]

    def terminated(self, exit_code: int, *, reason: str | None = None, message: str | None = None,
                   finished_at: str = T0, last: bool = False) -> PodBuilder:
        terminated: dict[str, Any] = {"exitCode": exit_code, "finishedAt": finished_at}
        terminated.update({k: v for k, v in (("reason", reason), ("message", message)) if v is not None})
        self._container()["lastState" if last else "state"] = {"terminated": terminated}
        if not last:
            self._pod["status"]["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        return self

    def sidecar_terminated(self, exit_code: int) -> PodBuilder:
        self._pod["status"]["containerStatuses"].append(
            {"name": "sidecar", "state": {"terminated": {"exitCode": exit_code, "finishedAt": "2030-01-01T00:00:00Z"}}})
        return self

    def failed(self, reason: str, message: str = "", started_at: str = T0) -> PodBuilder:
        self._pod["status"].update({"phase": "Failed", "reason": reason, "message": message, "startTime": started_at})
        return self

    def obj(self) -> dict[str, Any]:
        return self._pod


def make_pod(name: str = "hello-x7k2p-train-1-abcde") -> PodBuilder:
    return PodBuilder(name)
