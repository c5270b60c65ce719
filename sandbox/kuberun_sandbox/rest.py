"""A small asyncio Kubernetes REST client on aiohttp, for the sandbox node.

The node works on plain dicts (what the API sends) rather than the ``kubernetes`` client's models:
it copies pod templates verbatim and writes status back, and a model round trip would drop fields
the client does not know. aiohttp also makes a long-running watch cancellable, which a watch in a
``to_thread`` worker is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from kuberun.aiowait import wait_for
from kuberun.apipath import api_path

log = logging.getLogger("kuberun_sandbox.rest")

MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """A non-2xx answer; ``code`` is the HTTP status, ``body`` the Kubernetes Status (if any)."""

    def __init__(self, code: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"{code}: {message}")
        self.code = code
        self.body = body


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


path = api_path  # (kept under its short name: the node calls it everywhere)


class Rest:
    """JSON requests against one API server URL (``ssl``: a client TLS context for an https URL)."""

    def __init__(self, url: str, token: str | None = None, ca_pem: str | None = None, *,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url.rstrip("/")
        if ssl_context is None and ca_pem is None and self.url.startswith("https://"):
            from .apiserver.auth import local_ca

            ca_pem = local_ca(self.url)  # an in-process sandbox server's own CA
        if ssl_context is None and ca_pem:
            ssl_context = ssl.create_default_context(cadata=ca_pem)
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Rest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Large Jobs (inline scripts, configs in args) make long watch lines: allow 8 MiB.
            self._session = aiohttp.ClientSession(headers=self._headers, read_bufsize=8 * 1024 * 1024,
                                                  connector=aiohttp.TCPConnector(ssl=self._ssl))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, url_path: str, body: Any = None, params: dict[str, str] | None = None,
                      content_type: str = "application/json") -> Any:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(method, self.url + url_path, data=data, params=params,
                                        headers=headers) as resp:
            text = await resp.text()
            payload = _json_or_text(text)
            if resp.status >= 400:
                raise KubeError(resp.status, payload)
            return payload

    async def get(self, url_path: str, **params: str) -> Any:
        return await self.request("GET", url_path, params=params or None)

    async def get_or_none(self, url_path: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self.get(url_path)
            return result
        except KubeError as e:
            if e.code == 404:
                return None
            raise

    async def watch(self, url_path: str, resource_version: str, timeout_seconds: int = 300) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events from ``resource_version``; raises ``Gone`` on 410 (list again)."""
        params = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(timeout_seconds)}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30)
        async with self.session.get(self.url + url_path, params=params, timeout=timeout) as resp:
            if resp.status == 410:
                raise Gone()
            if resp.status >= 400:
                raise KubeError(resp.status, _json_or_text(await resp.text()))
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    if (event.get("object") or {}).get("code") == 410:
                        raise Gone()
                    raise KubeError((event.get("object") or {}).get("code", 500), event.get("object"))
                yield event


async def watch_forever(rest: Rest, url_path: str, on_list: Any, on_event: Any, stop: asyncio.Event) -> None:
    """List then watch ``url_path`` until ``stop``; resume from the last resourceVersion after a
    dropped connection, list again after 410 Gone. ``on_list(items)``/``on_event(type, obj)`` are async."""
    rv: str | None = None
    while not stop.is_set():
        try:
            if rv is None:
                listing = await rest.get(url_path)
                rv = listing["metadata"]["resourceVersion"]
                await on_list(listing.get("items") or [])
            async for event in rest.watch(url_path, rv):
                obj = event.get("object") or {}
                rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                if event["type"] != "BOOKMARK":
                    await on_event(event["type"], obj)
        except Gone:
            rv = None
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the server restarted or the connection dropped: resume shortly
            log.debug("watch %s interrupted (%s); resuming from %s", url_path, e, rv)
            await _sleep_unless(stop, 0.5)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await wait_for(stop.wait(), seconds)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text
