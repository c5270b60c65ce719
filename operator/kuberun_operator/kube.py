"""The operator's Kubernetes API access: the SDK's client (``kuberun.api``), off the event loop, with typed errors.

kopf watches; this writes. Calls run in worker threads (`asyncio.to_thread`) because the
client is synchronous (urllib3); requests and answers are plain dicts, as on the wire; every call is counted for the metrics and the RBAC audit.
Each request waits its turn under the client-side QPS/burst limit and is retried after a 429
or 5xx as ``ratelimit.py`` rules; each write first passes the leader-election fence
(``leadership/fence.py``), on the thread that sends it. Lease calls skip both: renewing the lease
must not queue behind a burst of writes, and it is how the fence is opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kuberun.resource.constants import GROUP, PLURAL, VERSION

T = TypeVar("T")
JSON_PATCH, MERGE_PATCH = "application/json-patch+json", "application/merge-patch+json"
_CHILDREN = {"Job": "jobs", "ConfigMap": "configmaps", "Service": "services"}  # kind -> resource
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
LIST_PAGE = 500  # objects per page of a relist (experiment_pages)


class ApiError(Exception):
    """An API call failed; ``status`` is the HTTP code (0 when the server was unreachable)."""

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message
        self.retry_after = retry_after  # seconds, from the server's Retry-After header

    @property
    def transient(self) -> bool:
        return self.status in (0, 409, 429) or self.status >= 500


class _Answered(ApiError):
    """The server answered with an error status (inside the worker thread; ``_once`` counts and re-raises it)."""


def resource_version(obj: dict[str, Any]) -> int:
    """An object's resourceVersion as a number, for keeping the newest copy in a cache."""
    try:
        return int(obj.get("metadata", {}).get("resourceVersion", "0"))
    except ValueError:
        return 0


def _message(data: bytes) -> str:
    import json

    try:
        return str(json.loads(data).get("message", data.decode(errors="replace")))
    except Exception:
        return data.decode(errors="replace")


def _path(group: str, version: str, namespace: str | None, plural: str, name: str | None = None, sub: str | None = None) -> str:
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    return base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}" + (f"/{name}" if name else "") + \
        (f"/{sub}" if sub else "")


def _core(namespace: str | None, plural: str, name: str | None = None, sub: str | None = None) -> str:
    return _path("", "v1", namespace, plural, name, sub)


def _batch(namespace: str, name: str | None = None) -> str:
    return _path("batch", "v1", namespace, "jobs", name)


def _experiments(namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
    return _path(GROUP, VERSION, namespace, PLURAL, name, sub)


def _leases(namespace: str, name: str | None = None) -> str:
    return _path("coordination.k8s.io", "v1", namespace, "leases", name)


@dataclass
class Kube:
    """Typed async wrappers around the calls the operator makes (and nothing else: least privilege)."""

    api: Any  # kuberun.api.Kube (connection.api_client): the SDK's client, sending requests as given
    on_call: Callable[[str, str, int], None] | None = None  # (verb, resource, code) for metrics
    polite: Any = None  # ratelimit.Politeness: the QPS/burst limit and the retry rule; None: neither
    fence: Callable[[], None] | None = None  # raises before a write this replica may not make (leadership)

    async def _request(self, verb: str, resource: str, method: str, path: str, body: Any = None, *,
                       content_type: str = "application/json", stream: bool = False, fenced: bool | None = None,
                       **query: Any) -> Any:
        """One API request (throttled, retried, fenced as ``_call`` rules): its JSON answer, or with
        ``stream`` the open response. ``fenced=False`` sends it outside the QPS limit and the fence."""
        def send() -> Any:
            resp = self.api.send(method, path, query=query or None, body=body, content_type=content_type, stream=stream,
                                 timeout=None if stream else 30.0)
            if resp.status >= 400:
                from kuberun_operator.ratelimit import retry_after_seconds

                data = resp.data if not stream else resp.read()
                raise _Answered(resp.status, resp.reason or "", _message(data or b""),
                                retry_after_seconds(resp.headers.get("Retry-After")))
            if stream:
                return resp
            import json

            return json.loads(resp.data) if resp.data else {}

        if fenced is False:
            return await self._once(verb, resource, send, (), {}, fenced=False)
        return await self._call(verb, resource, send)

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
        from urllib3.exceptions import HTTPError

        from kuberun.errors import UnreachableError

        def send() -> T:
            if fenced and self.fence is not None:
                self.fence()  # raises NotLeader: checked here, the moment before the request leaves
            return fn(*args, **kwargs)

        try:
            result = await asyncio.to_thread(send)
        except _Answered as exc:
            self._count(verb, resource, exc.status)
            raise ApiError(exc.status, exc.reason, exc.message, exc.retry_after) from None
        except UnreachableError as exc:
            self._count(verb, resource, 0)
            raise ApiError(0, "Unreachable", str(exc)) from None
        except (HTTPError, OSError) as exc:
            self._count(verb, resource, 0)
            raise ApiError(0, "Unreachable", str(exc)) from None
        self._count(verb, resource, 200)
        return result

    def _count(self, verb: str, resource: str, code: int) -> None:
        if self.on_call is not None:
            self.on_call(verb, resource, code)

    # -- experiments -------------------------------------------------------------------------

    async def replace_experiment_status(self, namespace: str, name: str, resource_version: str, status: dict[str, Any]) -> dict[str, Any]:
        """Replace the whole status atomically, only if nobody wrote since ``resource_version``."""
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add", "path": "/status", "value": status},
        ]
        return await self._request("patch", "experiments/status", "PATCH", _experiments(namespace, name, "status"), patch,
                                   content_type=JSON_PATCH)

    async def set_experiment_finalizers(self, namespace: str, name: str, resource_version: str, finalizers: list[str]) -> dict[str, Any]:
        """Replace the finalizer list, only if nobody wrote since ``resource_version``."""
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add", "path": "/metadata/finalizers", "value": finalizers},
        ]
        return await self._request("patch", "experiments", "PATCH", _experiments(namespace, name), patch, content_type=JSON_PATCH)

    async def get_experiment(self, namespace: str, name: str) -> dict[str, Any]:
        """The Experiment as stored now (after a failed precondition: the cache's copy is not to be trusted)."""
        return await self._request("get", "experiments", "GET", _experiments(namespace, name))

    async def list_experiments(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every Experiment (in ``namespace``, or cluster-wide), in one answer."""
        result = await self._request("list", "experiments", "GET", _experiments(namespace or None))
        return list(result.get("items", []))

    async def experiment_pages(self, namespace: str | None = None, limit: int = LIST_PAGE) -> AsyncIterator[list[dict[str, Any]]]:
        """Every Experiment, ``limit`` at a time (the API's ``continue`` token): the periodic relist.

        One answer of 10,000 Experiments was ~40 MB of JSON and ~80 MB decoded, held at once — a
        peak the operator's RSS then kept (docs/scale.md, "Operator memory"). Page by page, the
        caller packs each page before the next is read."""
        token: str | None = None
        while True:
            query = {"limit": limit, **({"continue": token} if token else {})}
            result = await self._request("list", "experiments", "GET", _experiments(namespace or None), **query)
            yield list(result.get("items", []))
            token = (result.get("metadata") or {}).get("continue")
            if not token:
                return

    async def delete_experiment(self, namespace: str, name: str) -> None:
        await self._request("delete", "experiments", "DELETE", _experiments(namespace, name))

    # -- children ----------------------------------------------------------------------------

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create a Job, ConfigMap or Service. A 409 means it already exists (raised as ApiError)."""
        ns, kind = obj["metadata"]["namespace"], obj["kind"]
        if kind not in _CHILDREN:
            raise ValueError(f"the operator does not create {kind}")
        resource = _CHILDREN[kind]
        path = _batch(ns) if kind == "Job" else _core(ns, resource)
        return await self._request("create", resource, "POST", path, obj)

    async def get_job(self, namespace: str, name: str) -> dict[str, Any]:
        return await self._request("get", "jobs", "GET", _batch(namespace, name))

    async def dry_run_pod(self, namespace: str, pod: dict[str, Any]) -> None:
        """Create ``pod`` with ``dryRun=All``: the namespace's admission (Pod Security...) answers, nothing is stored."""
        await self._request("create", "pods", "POST", _core(namespace, "pods"), pod, dryRun="All")

    async def get_child(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        """Read back a Job, ConfigMap or Service that a create found already there (who owns it?)."""
        if kind not in _CHILDREN:
            raise ValueError(f"the operator does not create {kind}")
        if kind == "Job":
            return await self.get_job(namespace, name)
        return await self._request("get", _CHILDREN[kind], "GET", _core(namespace, _CHILDREN[kind], name))

    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        await self._request("patch", "jobs", "PATCH", _batch(namespace, name), patch, content_type=MERGE_PATCH)

    async def delete_job(self, namespace: str, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        await self._request("delete", "jobs", "DELETE", _batch(namespace, name), body)

    async def delete_service(self, namespace: str, name: str) -> None:
        await self._request("delete", "services", "DELETE", _core(namespace, "services", name))

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        result = await self._request("list", "pods", "GET", _core(namespace, "pods"), labelSelector=selector or None)
        return list(result.get("items", []))

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any]:
        """A ConfigMap as a plain dict (a bridge reads a task's code package chunks with it)."""
        return await self._request("get", "configmaps", "GET", _core(namespace, "configmaps", name))

    # -- code package chunks (codegc.py) ----------------------------------------------------------

    async def list_config_maps(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        """ConfigMaps matching ``selector`` in ``namespace`` (None: every namespace)."""
        result = await self._request("list", "configmaps", "GET", _core(namespace, "configmaps"), labelSelector=selector)
        return list(result.get("items", []))

    async def patch_config_map(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A merge patch (one carrying ``metadata.resourceVersion`` is refused with 409 if it changed)."""
        return await self._request("patch", "configmaps", "PATCH", _core(namespace, "configmaps", name), patch,
                                   content_type=MERGE_PATCH)

    async def delete_config_map(self, namespace: str, name: str, resource_version: str) -> None:
        """Delete only the version read (409 when it changed since: someone touched it, keep it)."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"resourceVersion": resource_version}}
        await self._request("delete", "configmaps", "DELETE", _core(namespace, "configmaps", name), body)

    async def get_namespace(self, name: str) -> dict[str, Any]:
        """A Namespace (for its labels: backends granted by label selector, kuberun_operator/namespaces.py)."""
        return await self._request("get", "namespaces", "GET", _core(None, "namespaces", name))

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self._request("create", "events", "POST", _core(namespace, "events"), event)

    # -- the record (recording/) -------------------------------------------------------------

    async def list_events(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        """The Events about one object (by uid), for the archive's copy of the record."""
        result = await self._request("list", "events", "GET", _core(namespace, "events"),
                                     fieldSelector=f"involvedObject.uid={uid}")
        return list(result.get("items", []))

    async def open_pod_log(self, namespace: str, pod: str, container: str | None) -> Any:
        """The pod's log as an open HTTP response (read it with ``read_chunk``; ``release_conn`` after)."""
        return await self._request("get", "pods/log", "GET", _core(namespace, "pods", pod, "log"), stream=True,
                                   container=container)

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
            return await self._request("get", "leases", "GET", _leases(namespace, name), fenced=False)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._request("create", "leases", "POST", _leases(namespace), body, fenced=False)

    async def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the Lease; its metadata.resourceVersion makes it fail (409) if someone wrote first."""
        return await self._request("update", "leases", "PUT", _leases(namespace, name), body, fenced=False)
