"""``ApiServer``: the aiohttp application that ties storage, handlers, discovery and watches together.

Why not a ``kmock.KubernetesEmulator`` subclass: its request pipeline mutates the stored objects in
``_handle`` *before* routing (with a merge-everything patch model and no resourceVersion), decides
status codes and content types in its DSL rendering layer (200 on create, 500 on a failed JSON-patch
test, ``application/octet-stream`` watches) and feeds watches from a history-less bus. A subclass
would have to override every one of those methods and still fight the DSL router, so the server
is a plain aiohttp app; from kmock it keeps the bundled built-in discovery catalogue (see
``resources.py``).
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import pathlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import builtin_schema, discovery, faultroute, openapi, serviceaccounts
from .auth import AdmittingHandlers, Auth
from .durable import DataDirInUse, StateError
from .errors import ApiError, injected, method_not_allowed, not_found
from .faults import Fault, FaultSet, RequestRecord
from .handlers import Target, respond
from .resources import Registry
from .routing import Parsed, parse, rbac_verb
from .store import Store
from .watch import WatchStream

logger = logging.getLogger(__name__)

LogProvider = Callable[[str, str, str | None, bool], Awaitable[Any]]
"""``async (namespace, pod, container, follow) -> bytes | str | AsyncIterator[bytes] | None``; None = 404."""

_BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ServerStartError(OSError):
    """The API server could not listen (e.g. the port is taken)."""


class ApiServer:
    """A Kubernetes API server emulator over real HTTP on 127.0.0.1."""

    def __init__(self, data_dir: pathlib.Path | None = None, history_size: int = 10_000,
                 sync: str | None = None, *, tls: bool = True, tls_dir: pathlib.Path | None = None) -> None:
        """``sync``: durability level (durable.py). HTTPS by default (``auth/tls.py``: client-go sends no
        bearer token to ``http://``), with a CA kept in ``tls_dir`` if given, else under the data
        directory, else in a temporary one; ``tls=False`` serves plain HTTP."""
        self.registry = Registry()
        self.store = Store(history_size=history_size, data_dir=pathlib.Path(data_dir) if data_dir else None,
                           sync=sync)  # sync: durability level, see durable.py
        self.store.undo_hook = self._undo_crd
        self.handlers = AdmittingHandlers(self.store, self.registry)
        self.auth = Auth(self.store, self.registry, pathlib.Path(data_dir) / "auth" if data_dir else None, tls=tls,
                         tls_dir=pathlib.Path(tls_dir) if tls_dir is not None else None)
        self.request_log: list[RequestRecord] = []
        self.faultset = FaultSet()
        self.faults = self.faultset.faults  # (the list itself: tests read hit counts from it)
        self._watch_requests: dict[int, web.Request] = {}  # open watches by id(), for faults that drop them
        self.bookmark_interval = 5.0  # seconds of watch idleness before a BOOKMARK (real servers: ~60 s)
        self._log_provider: LogProvider | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._host = "127.0.0.1"

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            self.store.load()
        except (DataDirInUse, StateError) as e:
            raise ServerStartError(errno.EBUSY if isinstance(e, DataDirInUse) else errno.EIO, str(e)) from e
        for key, obj in self.store.items():
            if key[:2] == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self.registry.register_crd(obj)
        self._bootstrap()
        self.auth.bootstrap()
        builtin_schema.warm()
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        # SO_REUSEADDR: a restart can bind while old connections sit in TIME_WAIT; on Linux it still refuses
        # a port that another socket listens on, so "port already in use" stays a real answer.
        site = web.TCPSite(self._runner, host, port, reuse_address=True, ssl_context=self.auth.ssl_context(host))
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            self._runner = None
            self.auth.close()
            self.store.close()
            hint = " (port already in use)" if e.errno == errno.EADDRINUSE else ""
            raise ServerStartError(e.errno, f"cannot listen on {host}:{port}{hint}: {e.strerror}") from e
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self._host, self._port = host, sockets[0].getsockname()[1]
        self.auth.listening(self.url)

    async def stop(self) -> None:
        self.store.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.auth.close()
        self.store.close()

    def _bootstrap(self) -> None:
        rt = self.registry.get("", "v1", "namespaces")
        assert rt is not None
        from .versioning import prepare_create

        for name in _BOOTSTRAP_NAMESPACES:
            if self.store.get_ref(("", "namespaces", "", name)) is None:
                obj = prepare_create(rt, {"metadata": {"name": name}}, None)
                obj.update(spec={"finalizers": ["kubernetes"]}, status={"phase": "Active"})
                self.store.put(("", "namespaces", "", name), obj, "ADDED")
        # Every namespace, including those of a data directory from before the emulator made them.
        for key, ns in list(self.store.items()):
            if key[:2] == ("", "namespaces") and not ns["metadata"].get("deletionTimestamp"):
                serviceaccounts.ensure_default(self.store, self.registry, key[3])

    def _undo_crd(self, key: tuple[str, str, str, str], restored: dict[str, Any] | None,
                  undone: dict[str, Any] | None) -> None:
        """A commit failed: the CRD-defined types follow the store back (see ``Store.flush``)."""
        if key[:2] != ("apiextensions.k8s.io", "customresourcedefinitions"):
            return
        if undone is not None:
            self.registry.unregister_crd(undone)
        if restored is not None:
            self.registry.register_crd(restored)

    @property
    def url(self) -> str:
        return f"{'https' if self.auth.tls else 'http'}://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    # --- test hooks ------------------------------------------------------------------------
    def inject(self, status: int | None = 500, times: int | None = 1, *, verb: str | None = None,
               group: str | None = None, resource: str | None = None, namespace: str | None = None,
               name: str | None = None, user_agent: str | None = None, delay: float = 0.0,
               drop_after: float | None = None, probability: float = 1.0,
               retry_after: int | None = None) -> Fault:
        """Answer the next ``times`` matching requests with ``status`` (a Kubernetes Status body), after
        ``delay`` seconds; ``drop_after``: abort the connection that long after (see ``faults.Fault``)."""
        return self.faultset.add(Fault(status=status, times=times, verb=verb, group=group, resource=resource,
                                       namespace=namespace, name=name, user_agent=user_agent, delay=delay,
                                       drop_after=drop_after,
                                       probability=probability, retry_after=retry_after))

    def drop_watches(self) -> int:
        """Abort every open watch connection (the client sees the stream end with no final event)."""
        dropped = 0
        for request in list(self._watch_requests.values()):
            if request.transport is not None and not request.transport.is_closing():
                request.transport.abort()
                dropped += 1
        return dropped

    def set_log_provider(self, provider: LogProvider | None) -> None:
        """Serve ``pods/log`` from ``provider`` (the sandbox node plugs in here)."""
        self._log_provider = provider

    # --- dispatch --------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parsed = parse(request.path, self.registry)
        # Booleans as Go's strconv.ParseBool reads them: older python clients send "True".
        watch = request.query.get("watch", "").lower() in ("1", "t", "true")
        verb = rbac_verb(request.method, parsed, watch)
        record = _record(verb, parsed, request.path, request.headers.get("User-Agent", ""))
        drop: asyncio.TimerHandle | None = None
        try:
            if faultroute.is_admin_route(request.path):  # never faulted itself; administrators only
                return await faultroute.serve(request, self.auth.authenticate(request), self.faultset,
                                              self.drop_watches)
            fault = self.faultset.hit(record)
            if fault is not None:
                drop = self._schedule_drop(request, fault)
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status is not None and fault.retry_after is not None:
                    # APF's answer: a Status with retryAfterSeconds and the Retry-After header
                    error = injected(fault.status)
                    error.details = {"retryAfterSeconds": fault.retry_after}
                    response = respond(error.body(), error.code)
                    response.headers["Retry-After"] = str(fault.retry_after)
                    self.request_log.append(_with_code(record, response.status))
                    if drop is not None:
                        drop.cancel()
                    return response
                if fault.status is not None:
                    raise injected(fault.status)
            # authenticate → authorize → (a review is answered here) → the handlers, which admit writes
            reviewed = await self.auth.gate(request, parsed, watch, self._host, self._port)
            if reviewed is not None:
                response = reviewed
            elif watch:
                # A watch streams until the client leaves, and aiohttp cancels the handler then:
                # record it when it starts, or the audit would never see it.
                self.request_log.append(_with_code(record, 200))
                self._watch_requests[id(request)] = request
                try:
                    return await self._route(request, parsed, watch)
                finally:
                    self._watch_requests.pop(id(request), None)
                    if drop is not None:
                        drop.cancel()
            else:
                response = await self._route(request, parsed, watch)
        except ApiError as e:
            response = respond(e.body(), e.code)
        except Exception as e:  # a bug here must reach the client as a 500 Status, not a dropped connection
            logger.exception("internal error serving %s %s", request.method, request.path)
            response = respond(ApiError(500, "InternalError", f"internal error: {e!r}").body(), 500)
        try:
            await self.store.barrier()  # answer only once every write it could have seen is committed
        except ApiError as e:
            response = respond(e.body(), e.code)
        if drop is not None:  # served (a write is applied), then the answer is lost with the connection
            drop.cancel()
            if request.transport is not None:
                request.transport.abort()
        self.request_log.append(_with_code(record, response.status))
        return response

    @staticmethod
    def _schedule_drop(request: web.Request, fault: Fault) -> asyncio.TimerHandle | None:
        if fault.drop_after is None or request.transport is None:
            return None
        transport = request.transport
        return asyncio.get_running_loop().call_later(fault.drop_after, transport.abort)

    async def _route(self, request: web.Request, parsed: Parsed | None, watch: bool) -> web.StreamResponse:
        if parsed is None:
            return await self._non_resource(request)
        if not parsed.plural:
            if parsed.group:
                return respond(discovery.api_resource_list(self.registry, parsed.group, parsed.version))
            return respond(discovery.api_resource_list(self.registry, "", parsed.version))
        if parsed.rt is None:
            raise not_found(parsed.group, parsed.plural, parsed.name)
        target = Target(parsed.rt, parsed.namespace, parsed.name, parsed.subresource)
        if target.subresource == "log" and target.rt.plural == "pods":
            return await self._pod_log(request, target)
        if target.subresource not in (None, *target.rt.subresources):
            raise not_found(parsed.group, f"{parsed.plural}/{parsed.subresource}", parsed.name)
        return await self._resource(request, target, watch)

    async def _resource(self, request: web.Request, target: Target, watch: bool) -> web.StreamResponse:
        h, method = self.handlers, request.method
        if method == "GET" and watch:
            return await WatchStream(h, request, target, self.bookmark_interval).serve()
        if target.name is None:
            routes = {"GET": h.list, "POST": h.create, "DELETE": h.deletecollection}
        elif target.subresource:
            routes = {"GET": h.get, "PUT": h.update, "PATCH": h.patch}
        else:
            routes = {"GET": h.get, "PUT": h.update, "PATCH": h.patch, "DELETE": h.delete}
        if method not in routes:
            raise method_not_allowed(method)
        return await routes[method](request, target)

    async def _non_resource(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path == "/version":
            return respond(discovery.VERSION)
        if path == "/api":
            return respond(discovery.api_versions(f"{self._host}:{self._port}"))
        if path == "/apis":
            return respond(discovery.api_group_list(self.registry))
        if path.startswith("/apis/") and path.count("/") == 2:
            return respond(discovery.api_group(self.registry, path.split("/")[2]))
        if path == "/openapi/v3":
            return respond(openapi.root_doc(self.registry))
        if path.startswith("/openapi/v3/"):
            parts = path.split("/")[3:]
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            return respond(openapi.group_version_doc(self.registry, group, version))
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        raise not_found("", "", None)

    async def _pod_log(self, request: web.Request, target: Target) -> web.StreamResponse:
        self.handlers._existing(Target(target.rt, target.namespace, target.name, None))
        follow = request.query.get("follow", "").lower() in ("true", "1", "t")  # Go ParseBool: "True" too
        container = request.query.get("container")
        result = None
        if self._log_provider is not None:
            extra: dict[str, Any] = {}
            tail = request.query.get("tailLines")
            if tail is not None and "tail_lines" in inspect.signature(self._log_provider).parameters:
                if not tail.lstrip("-").isdigit():
                    raise ApiError(400, "BadRequest", f"tailLines: invalid value {tail!r}")
                extra["tail_lines"] = max(0, int(tail))  # a provider that accepts it honours tailLines
            result = await self._log_provider(target.namespace or "", target.name or "", container, follow, **extra)
        if result is None:
            raise ApiError(404, "NotFound", f'logs of pod "{target.name}" are not available')
        if isinstance(result, (bytes, str)):
            return web.Response(body=result.encode() if isinstance(result, str) else result, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        async for chunk in result:
            await response.write(chunk.encode() if isinstance(chunk, str) else chunk)
        return response


def _record(verb: str, parsed: Parsed | None, path: str, user_agent: str = "") -> RequestRecord:
    import time

    if parsed is None or not parsed.plural:
        return RequestRecord(verb, "", "", None, None, None, 0, path, user_agent, at=time.monotonic())
    return RequestRecord(verb, parsed.group, parsed.plural, parsed.subresource, parsed.namespace, parsed.name, 0,
                         user_agent=user_agent, at=time.monotonic())


def _with_code(record: RequestRecord, code: int) -> RequestRecord:
    from dataclasses import replace

    return replace(record, code=code)


