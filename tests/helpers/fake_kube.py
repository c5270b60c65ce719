"""An in-memory stand-in for ``kuberun_operator.kube.Kube``: exactly the calls the controller and the
Kubernetes backend make, with the API server's rules that matter to them.

- objects have resourceVersions; a status or finalizer write names the version it read and gets
  409 when someone wrote since (the JSON-patch ``test`` the real calls carry);
- ``create`` answers 409 for a name that exists (the controller treats it as "already created");
- every write is delivered to ``on_write`` the way a watch would deliver it;
- ``conflict_next_status_write`` makes the next status write lose a race against another writer;
  ``status_conflicts`` fails that many status writes with 409, ``fail_create`` injects create errors.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kuberun.resource.constants import API_VERSION, KIND
from kuberun_operator.kube import ApiError


class FakeKube:
    def __init__(self) -> None:
        self.experiments: dict[tuple[str, str], dict[str, Any]] = {}
        self.children: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, namespace, name)
        self.calls: list[tuple[str, ...]] = []
        self.status_writes: list[dict[str, Any]] = []
        self.on_write: Callable[[dict[str, Any]], None] | None = None
        self.conflict_next_status_write = False
        self.status_conflicts = 0  # this many status writes fail 409 (the precondition) regardless
        self.fail_create: dict[str, list[ApiError]] = {}  # kind -> errors the next creates of it raise
        self.events: list[dict[str, Any]] = []  # core/v1 Events, as list_events returns them
        self.fail_list_events: list[ApiError] = []
        self.refuse_pods: str | None = None  # set: a dry-run pod create answers 403 with this message
        self._version = 100
        self._uids = 0

    def _bump(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)
        return obj

    def _stored(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self.experiments.get((namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", f"experiments {name!r} not found")
        return obj

    def _written(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.on_write is not None:
            self.on_write(copy.deepcopy(obj))
        return copy.deepcopy(obj)

    # -- set up by tests ---------------------------------------------------------------------

    def add_experiment(self, name: str, tasks: list[dict[str, Any]], namespace: str = "ns", **spec: Any) -> dict[str, Any]:
        obj = {"apiVersion": API_VERSION, "kind": KIND,
               "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
               "spec": {"title": name, "tasks": tasks, **spec}}
        self.experiments[(namespace, name)] = self._bump(obj)
        return copy.deepcopy(obj)

    # -- the Kube surface ----------------------------------------------------------------------

    async def replace_experiment_status(self, namespace: str, name: str, resource_version: str,
                                        status: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch", "experiments/status", name))
        stored = self._stored(namespace, name)
        if self.conflict_next_status_write:
            self.conflict_next_status_write = False
            self._bump(stored)  # another writer got there first
            self._written(stored)
        if self.status_conflicts > 0:
            self.status_conflicts -= 1
            raise ApiError(409, "Conflict", "the object has been modified")
        if stored["metadata"]["resourceVersion"] != resource_version:
            raise ApiError(409, "Conflict", "the object has been modified")
        stored["status"] = copy.deepcopy(status)
        self.status_writes.append(copy.deepcopy(status))
        return self._written(self._bump(stored))

    async def set_experiment_finalizers(self, namespace: str, name: str, resource_version: str,
                                        finalizers: list[str]) -> dict[str, Any]:
        self.calls.append(("patch", "experiments", name))
        stored = self._stored(namespace, name)
        if stored["metadata"]["resourceVersion"] != resource_version:
            raise ApiError(409, "Conflict", "the object has been modified")
        stored["metadata"]["finalizers"] = list(finalizers)
        if not finalizers and stored["metadata"].get("deletionTimestamp"):
            del self.experiments[(namespace, name)]
            return copy.deepcopy(stored)
        return self._written(self._bump(stored))

    async def delete_experiment(self, namespace: str, name: str) -> None:
        self.calls.append(("delete", "experiments", name))
        stored = self._stored(namespace, name)
        if stored["metadata"].get("finalizers"):
            stored["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
            self._written(self._bump(stored))
        else:
            del self.experiments[(namespace, name)]

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        key = (obj["kind"], meta["namespace"], meta["name"])
        self.calls.append(("create", obj["kind"], meta["name"]))
        if self.fail_create.get(obj["kind"]):
            raise self.fail_create[obj["kind"]].pop(0)
        if key in self.children:
            raise ApiError(409, "AlreadyExists", f"{obj['kind']} {meta['name']!r} already exists")
        self._uids += 1
        self.children[key] = self._bump(copy.deepcopy(obj))
        self.children[key]["metadata"]["uid"] = f"{obj['kind'].lower()}-uid-{self._uids}"
        return copy.deepcopy(self.children[key])

    async def dry_run_pod(self, namespace: str, pod: dict[str, Any]) -> None:
        self.calls.append(("dryrun", "pods", pod["metadata"]["generateName"]))
        if self.refuse_pods is not None:
            raise ApiError(403, "Forbidden", self.refuse_pods)

    async def get_child(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        self.calls.append(("get", kind, name))
        child = self.children.get((kind, namespace, name))
        if child is None:
            raise ApiError(404, "NotFound", name)
        return copy.deepcopy(child)

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any]:
        cm = self.children.get(("ConfigMap", namespace, name))
        # Not in ``calls`` for the record server's endpoints ConfigMap: the Kubernetes backend reads it (for
        # the pods' upload URL, backends/kubernetes/podupload.py) at most once a minute; ``calls`` is the
        # controller's and the recorder's.
        if (namespace, name) != ("kuberun-system", "kuberun-endpoints"):
            self.calls.append(("get", "ConfigMap", name))
        if cm is None:
            raise ApiError(404, "NotFound", name)
        return copy.deepcopy(cm)

    async def get_job(self, namespace: str, name: str) -> dict[str, Any]:
        self.calls.append(("get", "jobs", name))
        job = self.children.get(("Job", namespace, name))
        if job is None:
            raise ApiError(404, "NotFound", name)
        return copy.deepcopy(job)

    async def get_experiment(self, namespace: str, name: str) -> dict[str, Any]:
        self.calls.append(("get", "experiments", name))
        return copy.deepcopy(self._stored(namespace, name))

    async def list_experiments(self, namespace: str | None = None) -> list[dict[str, Any]]:
        self.calls.append(("list", "experiments", namespace or ""))
        return [copy.deepcopy(o) for (ns, _), o in self.experiments.items() if namespace in (None, "", ns)]

    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.calls.append(("patch", "jobs", name))
        job = self.children.get(("Job", namespace, name))
        if job is None:
            raise ApiError(404, "NotFound", name)
        job["spec"].update(patch.get("spec", {}))
        self._bump(job)

    async def delete_job(self, namespace: str, name: str) -> None:
        self.calls.append(("delete", "jobs", name))
        if self.children.pop(("Job", namespace, name), None) is None:
            raise ApiError(404, "NotFound", name)

    async def delete_service(self, namespace: str, name: str) -> None:
        self.calls.append(("delete", "services", name))
        if self.children.pop(("Service", namespace, name), None) is None:
            raise ApiError(404, "NotFound", name)

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        self.calls.append(("list", "pods", selector))
        return []

    async def list_events(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        self.calls.append(("list", "events", uid))
        if self.fail_list_events:
            raise self.fail_list_events.pop(0)
        return [copy.deepcopy(e) for e in self.events if e.get("involvedObject", {}).get("uid") == uid]

    def created(self, kind: str) -> list[str]:
        return [c[2] for c in self.calls if c[:2] == ("create", kind)]
