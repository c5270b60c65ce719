"""The dashboard's aiohttp application: routes, error pages, static files, start and stop.

Pages are rendered on the server from the record (the API, read with the user's kubeconfig); the
browser runs one small script for live refresh and the log follower. Reads of the API are
synchronous SDK calls, so each runs in a worker thread, keeping the event loop free for the
other requests and the event streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from kuberun.ui import actions, compare, data, detail, listing, live, render, security

log = logging.getLogger("kuberun.ui")
STATIC = Path(__file__).parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The record's errors as pages saying what to do: RBAC refusals name the verb and resource."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except data.Forbidden as exc:
        return render.error(request, 403, str(exc))
    except data.NotFound as exc:
        return render.error(request, 404, str(exc))
    except (data.InvalidOverride, ValueError) as exc:
        return render.error(request, 400, str(exc).splitlines()[0])
    except ConnectionError as exc:  # UnreachableError is one
        return render.error(request, 502, str(exc))
    except data.KuberunError as exc:
        return render.error(request, 502, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, title="The API refused")


def create_app(record: data.Record | None, keys: security.Secrets | None = None, *,
               guard: Callable[..., Awaitable[web.StreamResponse]] | None = None,
               extra: list[web.RouteDef] | None = None) -> web.Application:
    """The dashboard. ``guard``: who may in (default: the loopback rules, ``security``); in-cluster mode
    (``incluster``) passes its own, with no ``record`` (each request gets its user's) and its ``extra`` routes."""
    keys = keys or security.Secrets()
    guard = guard or security.middleware(keys, lambda req, status, msg: render.error(req, status, msg))
    app = web.Application(middlewares=[guard, errors], client_max_size=256 * 1024)
    app[render.KEYS] = keys
    if record is not None:
        app[render.RECORD] = record
    app.router.add_routes(extra or [])
    app[live.FOLLOWERS] = live.Followers()
    app.on_shutdown.append(live.stop_followers)
    app.router.add_get("/", listing.experiment_list)
    app.router.add_get("/fragments/list", listing.list_rows)
    app.router.add_get("/compare", compare.compare)
    app.router.add_get("/exp/{namespace}/{name}", detail.experiment)
    app.router.add_get("/fragments/exp/{namespace}/{name}", detail.experiment_live)
    app.router.add_get("/exp/{namespace}/{name}/logs/{task}", detail.past_log)
    app.router.add_get("/exp/{namespace}/{name}/logs/{task}/stream", live.log_stream)
    app.router.add_get("/exp/{namespace}/{name}/confirm/{action}", actions.confirm)
    app.router.add_post("/exp/{namespace}/{name}/action/{action}", actions.perform)
    app.router.add_static("/static", STATIC, append_version=True)
    return app


class Running:
    """A started dashboard: its URL (with the access token) and how to stop it."""

    def __init__(self, runner: web.AppRunner, url: str, keys: security.Secrets) -> None:
        self.runner, self.base_url, self.keys = runner, url, keys

    @property
    def url(self) -> str:
        return f"{self.base_url}/?token={self.keys.access}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start(record: data.Record, port: int = 0, keys: security.Secrets | None = None) -> Running:
    """Serve on 127.0.0.1:``port`` (0: any free port) until ``stop()``."""
    keys = keys or security.Secrets()
    return await start_app(create_app(record, keys), "127.0.0.1", port, keys)


async def start_app(app: web.Application, hosts: str | list[str], port: int, keys: security.Secrets) -> Running:
    """Serve ``app`` on ``port`` of each of ``hosts`` (the first one's port when ``port`` is 0)."""
    hosts = [hosts] if isinstance(hosts, str) else hosts
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
    await runner.setup()
    try:
        for host in hosts:
            await web.TCPSite(runner, host, port).start()
            port = port or runner.addresses[0][1]  # the same free port on every address
    except OSError:
        await runner.cleanup()
        raise
    shown = f"[{hosts[0]}]" if ":" in hosts[0] else hosts[0]
    return Running(runner, f"http://{shown}:{port}", keys)


def serve(record: data.Record, port: int, announce: Callable[[str], Any] = print) -> None:
    """Run until interrupted (Ctrl-C or SIGTERM), then stop the streams and the server."""

    async def begin() -> Running:
        running = await start(record, port)
        announce(f"kuberun ui: {running.url}")
        announce(f"reading experiments in {'all namespaces' if record.all_namespaces else record.namespace!r} as "
                 f"{record.user or 'the kubeconfig user'}; Ctrl-C stops")
        return running

    run_until_stopped(begin)


def run_until_stopped(begin: Callable[[], Awaitable[Running]]) -> None:
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        running = await begin()
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await running.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
