"""The sandbox node's kubelet endpoint (HTTPS on 127.0.0.1), so a real API server can proxy pod logs.

``kubectl logs`` asks the API server, which asks the kubelet of the pod's node:
``GET https://<InternalIP>:<kubeletEndpoint.Port>/containerLogs/{namespace}/{pod}/{container}``
with ``follow``, ``tailLines``, ... This serves that path from the same log files the emulator's
``pods/log`` provider reads.

TLS both ways, as a kubeadm cluster has it: the serving certificate is signed by the cluster CA and
the API server verifies it (``--kubelet-certificate-authority``), and this server accepts only
clients presenting a certificate of that CA (the API server's ``--kubelet-client-certificate``).
Insecure kubelet TLS would let anything that binds the port first impersonate the node.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("kuberun_sandbox.node")

LogProvider = Callable[[str, str, str | None, bool, int | None], Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class KubeletTLS:
    cert: pathlib.Path
    key: pathlib.Path
    client_ca: pathlib.Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.client_ca))
        context.load_cert_chain(self.cert, self.key)
        context.verify_mode = ssl.CERT_REQUIRED
        return context


class KubeletServer:
    def __init__(self, logs: LogProvider, tls: KubeletTLS, host: str = "127.0.0.1") -> None:
        self._logs, self._tls, self.host = logs, tls, host
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_logs)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))  # bound here so that port 0 tells us the port it got
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock, ssl_context=self._tls.server_context()).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        info, query = request.match_info, request.query
        tail = query.get("tailLines")
        try:
            tail_lines = int(tail) if tail is not None else None
        except ValueError:
            return web.Response(status=400, text=f"tailLines: not an integer: {tail!r}")
        follow = query.get("follow", "false").lower() in ("true", "1")
        chunks = await self._logs(info["namespace"], info["pod"], info["container"], follow, tail_lines)
        if chunks is None:
            return web.Response(status=404, text=f"no log for container {info['container']!r} of pod "
                                                 f"{info['namespace']}/{info['pod']} on this node")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response
