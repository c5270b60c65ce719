"""The operator's Kubernetes API access: the official client, off the event loop, with typed errors.

kopf watches; this writes. Calls run in worker threads (`asyncio.to_thread`) because the
official client is synchronous; every call is counted for the metrics and the RBAC audit.
Each request waits its turn under the client-side QPS/burst limit and is retried after a 429
or 5xx as ``ratelimit.py`` rules; each write first passes the leader-election fence
(``leadership/fence.py``), on the thread that sends it. Lease calls skip both: renewing the lease
must not queue behind a burst of writes, and it is how the fence is opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kuberun.resource.constants import GROUP, PLURAL, VERSION

T = TypeVar("T")
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class ApiError(Exception):
    """An API call failed; ``status`` is the HTTP code (0 when the server was unreachable)."""

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message
        self.retry_after = retry_after  # seconds, from the server's Retry-After header

    @property
    def transient(self) -> bool:
        return self.status in (0, 409, 429) or self.status >= 500


def resource_version(obj: dict[str, Any]) -> int:
    """An object's resourceVersion as a number, for keeping the newest copy in a cache."""
    try:
        return int(obj.get("metadata", {}).get("resourceVersion", "0"))
    except ValueError:
        return 0


def _message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message", exc.body))
    except Exception:
        return str(getattr(exc, "body", "") or exc)


@dataclass
class Kube:
    """Typed async wrappers around the calls the operator makes (and nothing else: least privilege)."""

    api: Any  # kubernetes.client.ApiClient
    on_call: Callable[[str, str, int], None] | None = None  # (verb, resource, code) for metrics
    polite: Any = None  # ratelimit.Politeness: the QPS/burst limit and the retry rule; None: neither
    fence: Callable[[], None] | None = None  # raises before a write this replica may not make (leadership)

    async def _call(self, verb: str, resource: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        attempt = 0
        while True:
            if self.polite is not None:
                await self.polite.wait_turn()
            try:
                return await self._once(verb, resource, fn, args, kwargs, fenced=verb in WRITES)
            except ApiError as exc:
                delay = None if self.polite is None or exc.status == 0 else \
                    self.polite.retry_delay(verb, resource, exc.status, exc.retry_after, attempt)
                if delay is None:
                    raise
            attempt += 1
            await asyncio.sleep(delay)

    async def _once(self, verb: str, resource: str, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any],
                    fenced: bool) -> T:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        def send() -> T:
            if fenced and self.fence is not None:
                self.fence()  # raises NotLeader: checked here, the moment before the request leaves
            return fn(*args, **kwargs)

        try:
            result = await asyncio.to_thread(send)
        except ApiException as exc:
            self._count(verb, resource, exc.status or 0)
            from kuberun_operator.ratelimit import retry_after_seconds

            retry_after = retry_after_seconds((exc.headers or {}).get("Retry-After"))
            raise ApiError(exc.status or 0, exc.reason or "", _message(exc), retry_after) from None
        except (HTTPError, OSError) as exc:
            self._count(verb, resource, 0)
            raise ApiError(0, "Unreachable", str(exc)) from None
        self._count(verb, resource, 200)
        return result

    def _count(self, verb: str, resource: str, code: int) -> None:
        if self.on_call is not None:
            self.on_call(verb, resource, code)

    @property
    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def _batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    @property
    def _coordination(self) -> Any:
        from kubernetes import client

        return client.CoordinationV1Api(self.api)

    @property
    def _custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    # -- experiments -------------------------------------------------------------------------

    async def replace_experiment_status(self, namespace: str, name: str, resource_version: str, status: dict[str, Any]) -> dict[str, Any]:
        """Replace the whole status atomically, only if nobody wrote since ``resource_version``."""
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add", "path": "/status", "value": status},
        ]
        return await self._call("patch", "experiments/status", self._custom.patch_namespaced_custom_object_status,
                                GROUP, VERSION, namespace, PLURAL, name, patch, _content_type="application/json-patch+json")

    async def set_experiment_finalizers(self, namespace: str, name: str, resource_version: str, finalizers: list[str]) -> dict[str, Any]:
        """Replace the finalizer list, only if nobody wrote since ``resource_version``."""
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add", "path": "/metadata/finalizers", "value": finalizers},
        ]
        return await self._call("patch", "experiments", self._custom.patch_namespaced_custom_object,
                                GROUP, VERSION, namespace, PLURAL, name, patch, _content_type="application/json-patch+json")

    async def get_experiment(self, namespace: str, name: str) -> dict[str, Any]:
        """The Experiment as stored now (after a failed precondition: the cache's copy is not to be trusted)."""
        return await self._call("get", "experiments", self._custom.get_namespaced_custom_object,
                                GROUP, VERSION, namespace, PLURAL, name)

    async def list_experiments(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every Experiment (in ``namespace``, or cluster-wide): the periodic relist."""
        if namespace:
            result = await self._call("list", "experiments", self._custom.list_namespaced_custom_object,
                                      GROUP, VERSION, namespace, PLURAL)
        else:
            result = await self._call("list", "experiments", self._custom.list_cluster_custom_object, GROUP, VERSION, PLURAL)
        return list(result.get("items", []))

    async def delete_experiment(self, namespace: str, name: str) -> None:
        await self._call("delete", "experiments", self._custom.delete_namespaced_custom_object,
                         GROUP, VERSION, namespace, PLURAL, name)

    # -- children ----------------------------------------------------------------------------

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create a Job, ConfigMap or Service. A 409 means it already exists (raised as ApiError)."""
        ns, kind = obj["metadata"]["namespace"], obj["kind"]
        if kind == "Job":
            return await self._call("create", "jobs", self._json(self._batch.create_namespaced_job), ns, obj)
        if kind == "ConfigMap":
            return await self._call("create", "configmaps", self._json(self._core.create_namespaced_config_map), ns, obj)
        if kind == "Service":
            return await self._call("create", "services", self._json(self._core.create_namespaced_service), ns, obj)
        raise ValueError(f"the operator does not create {kind}")

    def _json(self, fn: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
        # Plain dicts (camelCase, as on the wire) straight from the response body: building the
        # client's model objects and serializing them back costs more than the request itself.
        import json

        def call(*args: Any) -> dict[str, Any]:
            return json.loads(fn(*args, _preload_content=False).data)

        return call

    async def get_job(self, namespace: str, name: str) -> dict[str, Any]:
        return await self._call("get", "jobs", self._json(self._batch.read_namespaced_job), name, namespace)

    async def dry_run_pod(self, namespace: str, pod: dict[str, Any]) -> None:
        """Create ``pod`` with ``dryRun=All``: the namespace's admission (Pod Security...) answers, nothing is stored."""
        await self._call("create", "pods", self._core.create_namespaced_pod, namespace, pod, dry_run="All")

    async def get_child(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        """Read back a Job, ConfigMap or Service that a create found already there (who owns it?)."""
        if kind == "Job":
            return await self.get_job(namespace, name)
        if kind == "ConfigMap":
            return await self._call("get", "configmaps", self._json(self._core.read_namespaced_config_map), name, namespace)
        if kind == "Service":
            return await self._call("get", "services", self._json(self._core.read_namespaced_service), name, namespace)
        raise ValueError(f"the operator does not create {kind}")

    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        await self._call("patch", "jobs", self._batch.patch_namespaced_job, name, namespace, patch)

    async def delete_job(self, namespace: str, name: str) -> None:
        from kubernetes import client

        body = client.V1DeleteOptions(propagation_policy="Background")
        await self._call("delete", "jobs", self._batch.delete_namespaced_job, name, namespace, body=body)

    async def delete_service(self, namespace: str, name: str) -> None:
        await self._call("delete", "services", self._core.delete_namespaced_service, name, namespace)

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        result = await self._call("list", "pods", self._json(
            lambda ns, **kw: self._core.list_namespaced_pod(ns, label_selector=selector, **kw)), namespace)
        return list(result.get("items", []))

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any]:
        """A ConfigMap as a plain dict (a bridge reads a task's code package chunks with it)."""
        return await self._call("get", "configmaps", self._json(self._core.read_namespaced_config_map), name, namespace)

    # -- code package chunks (codegc.py) ----------------------------------------------------------

    async def list_config_maps(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        """ConfigMaps matching ``selector`` in ``namespace`` (None: every namespace)."""
        if namespace is None:
            fn = self._json(lambda **kw: self._core.list_config_map_for_all_namespaces(label_selector=selector, **kw))
            result = await self._call("list", "configmaps", fn)
        else:
            result = await self._call("list", "configmaps", self._json(
                lambda ns, **kw: self._core.list_namespaced_config_map(ns, label_selector=selector, **kw)), namespace)
        return list(result.get("items", []))

    async def patch_config_map(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A merge patch (one carrying ``metadata.resourceVersion`` is refused with 409 if it changed)."""
        return await self._call("patch", "configmaps", self._json(self._core.patch_namespaced_config_map),
                                name, namespace, patch)

    async def delete_config_map(self, namespace: str, name: str, resource_version: str) -> None:
        """Delete only the version read (409 when it changed since: someone touched it, keep it)."""
        from kubernetes import client

        body = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version=resource_version))
        await self._call("delete", "configmaps", self._core.delete_namespaced_config_map, name, namespace, body=body)

    async def get_namespace(self, name: str) -> dict[str, Any]:
        """A Namespace (for its labels: backends granted by label selector, kuberun_operator/namespaces.py)."""
        return await self._call("get", "namespaces", self._json(self._core.read_namespace), name)

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self._call("create", "events", self._core.create_namespaced_event, namespace, event)

    # -- the record (recording/) -------------------------------------------------------------

    async def list_events(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        """The Events about one object (by uid), for the archive's copy of the record."""
        result = await self._call("list", "events", self._json(
            lambda ns, **kw: self._core.list_namespaced_event(ns, field_selector=f"involvedObject.uid={uid}", **kw)), namespace)
        return list(result.get("items", []))

    async def open_pod_log(self, namespace: str, pod: str, container: str | None) -> Any:
        """The pod's log as an open HTTP response (read it with ``read_chunk``; ``release_conn`` after)."""
        return await self._call("get", "pods/log", self._core.read_namespaced_pod_log, pod, namespace,
                                container=container, _preload_content=False)

    async def read_chunk(self, response: Any, size: int) -> bytes:
        """The next at most ``size`` bytes of a streamed response; b"" at the end."""
        from urllib3.exceptions import HTTPError

        try:
            return await asyncio.to_thread(response.read, size)
        except (HTTPError, OSError) as exc:
            raise ApiError(0, "Unreachable", f"reading a pod log: {exc}") from None
    # -- leases (leader election: neither throttled nor fenced, see the module docstring) ----------

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._once("get", "leases", self._json(self._coordination.read_namespaced_lease),
                                    (name, namespace), {}, fenced=False)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._once("create", "leases", self._json(self._coordination.create_namespaced_lease),
                                (namespace, body), {}, fenced=False)

    async def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the Lease; its metadata.resourceVersion makes it fail (409) if someone wrote first."""
        return await self._once("update", "leases", self._json(self._coordination.replace_namespaced_lease),
                                (name, namespace, body), {}, fenced=False)
