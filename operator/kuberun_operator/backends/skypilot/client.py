"""A narrow async client for the SkyPilot API server (the calls ``sky.client.sdk`` makes, 0.14.1).

``sky`` itself never enters the operator's process: it pins ``click<8.2`` (kopf needs >= 8.2)
and costs ~2.9 s / 158 MB to import. The server's protocol is small: a POST returns at once
with an ``X-Skypilot-Request-ID`` header; ``GET /api/status?request_ids=`` tells whether the
request finished without waiting; ``GET /api/get?request_id=`` returns the finished request
(HTTP 500 with ``detail`` when it failed). Return values and errors are JSON strings; an
error is ``{"type": <exception class>, "message": ..., "object": <pickle>}`` — the operator
reads ``type`` and ``message`` and never unpickles anything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from kuberun_operator.backends.base import BackendError

_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
FINISHED = {"SUCCEEDED", "FAILED", "CANCELLED"}


@dataclass(frozen=True)
class RequestResult:
    """A SkyPilot API request: its status and, once finished, its value or error."""

    status: str
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None


class SkypilotApi(Protocol):
    """What the bridge needs from a SkyPilot API server; tests provide a faithful fake.

    ``blob``: a code package already uploaded (``upload_blob``), which the task's file mounts name.
    """

    async def launch_managed(self, task_yaml: str, name: str, blob: str | None = None) -> str: ...

    async def launch_on_cluster(self, task_yaml: str, cluster: str, blob: str | None = None) -> str: ...

    async def upload_blob(self, zip_path: Path, blob_id: str) -> None: ...

    async def request(self, request_id: str) -> RequestResult | None: ...

    async def managed_jobs(self) -> list[dict[str, Any]]: ...

    async def cluster_jobs(self, cluster: str) -> list[dict[str, Any]]: ...

    async def cancel_managed(self, name: str) -> None: ...

    async def cancel_on_cluster(self, cluster: str, job_id: int) -> None: ...

    def logs(self, where: dict[str, Any], follow: bool, tail: int | None) -> AsyncIterator[bytes]: ...


class SkypilotClient:
    """The SkyPilot API server over HTTP; ``token_file`` holds a service-account token (Bearer)."""

    def __init__(self, endpoint: str, token_file: Path | None, session: aiohttp.ClientSession) -> None:
        self.endpoint, self.token_file, self.session = endpoint.rstrip("/"), token_file, session

    def _headers(self) -> dict[str, str]:
        if self.token_file is None:
            return {}
        try:
            return {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}
        except OSError as exc:
            raise BackendError("BadCredentials", f"cannot read the SkyPilot token file {self.token_file} "
                               f"({exc.strerror})", permanent=False) from None

    async def _post(self, path: str, body: dict[str, Any]) -> str:
        async with self._send("POST", path, json=body) as resp:
            await _check(resp)
            request_id = resp.headers.get("X-Skypilot-Request-ID")
            if not request_id:
                raise BackendError("BackendUnavailable", f"SkyPilot API server gave no request id for {path}",
                                   permanent=False)
            return request_id

    def _send(self, method: str, path: str, timeout: aiohttp.ClientTimeout = _TIMEOUT,
              extra_headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return _Guard(self.session.request(method, self.endpoint + path, headers={**self._headers(), **(extra_headers or {})},
                                           timeout=timeout, **kwargs), self.endpoint)

    async def request(self, request_id: str) -> RequestResult | None:
        async with self._send("GET", "/api/status", params={"request_ids": request_id}) as resp:
            await _check(resp)
            found = [r for r in await resp.json() if r.get("request_id", "").startswith(request_id)]
        if not found:
            return None
        if found[0]["status"] not in FINISHED:
            return RequestResult(found[0]["status"])
        return await self._result(request_id)

    async def _result(self, request_id: str) -> RequestResult:
        async with self._send("GET", "/api/get", params={"request_id": request_id},
                              timeout=aiohttp.ClientTimeout(total=120, connect=10)) as resp:
            if resp.status not in (200, 500):
                await _check(resp)
            payload = await resp.json()
        payload = payload.get("detail", payload) if resp.status == 500 else payload
        if not isinstance(payload, dict) or "status" not in payload:
            raise BackendError("BackendUnavailable", f"SkyPilot API server failed: {str(payload)[:300]}", permanent=False)
        error = json.loads(payload.get("error") or "null")
        value = json.loads(payload.get("return_value") or "null")
        if error:
            return RequestResult(payload["status"], None, error.get("type"), _plain(error.get("message")))
        return RequestResult(payload["status"], value)

    async def _call(self, path: str, body: dict[str, Any]) -> RequestResult:
        return await self._result(await self._post(path, body))

    async def launch_managed(self, task_yaml: str, name: str, blob: str | None = None) -> str:
        return await self._post("/jobs/launch", {"task": task_yaml, "name": name, **_with_blob(blob)})

    async def launch_on_cluster(self, task_yaml: str, cluster: str, blob: str | None = None) -> str:
        return await self._post("/launch", {"task": task_yaml, "cluster_name": cluster, **_with_blob(blob)})

    async def upload_blob(self, zip_path: Path, blob_id: str) -> None:
        """SkyPilot's ``/upload_v2``: skipped when the server has the blob, else the zip in chunks (streamed)."""
        from kuberun_operator.backends.skypilot import upload

        size = zip_path.stat().st_size
        async with self._send("GET", "/upload_v2/blob", params={"user_hash": upload.USER_HASH, "blob_id": blob_id,
                                                               "size_bytes": str(size)}) as resp:
            if resp.status == 404:
                raise BackendError("SubmissionRejected", "this SkyPilot API server has no /upload_v2 (API version 41, "
                                   "SkyPilot 0.11 or later, is needed to ship code packages)", permanent=True)
            await _check(resp)
            if (await resp.json()).get("exists"):
                return
        parts = list(upload.chunks(zip_path))
        for index, offset, length in parts:
            params = {"user_hash": upload.USER_HASH, "upload_id": blob_id, "chunk_index": str(index),
                      "total_chunks": str(len(parts))}
            async with self._send("POST", "/upload_v2", params=params, data=_file_range(zip_path, offset, length),
                                  timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=180),
                                  extra_headers={"Content-Type": "application/octet-stream",
                                                 "Content-Length": str(length)}) as resp:
                await _check(resp)
                answer = await resp.json()
        if answer.get("status") != "completed":
            raise BackendError("BackendUnavailable", f"SkyPilot did not complete the code upload: {str(answer)[:200]}",
                               permanent=False)

    async def managed_jobs(self) -> list[dict[str, Any]]:
        result = await self._call("/jobs/queue/v2", {"all_users": True, "skip_finished": False})
        if result.error_type == "ClusterNotUpError":
            return []  # no jobs controller yet: no managed jobs at all
        _raise(result, "list managed jobs")
        value = result.value
        return list(value.get("jobs", []) if isinstance(value, dict) else value or [])

    async def cluster_jobs(self, cluster: str) -> list[dict[str, Any]]:
        result = await self._call("/queue", {"cluster_name": cluster, "all_users": True})
        if result.error_type in ("ClusterNotUpError", "ClusterDoesNotExist"):
            return []
        _raise(result, f"list jobs on cluster {cluster!r}")
        return list(result.value or [])

    async def cancel_managed(self, name: str) -> None:
        result = await self._call("/jobs/cancel", {"name": name})
        if result.error_type not in (None, "ClusterNotUpError"):
            _raise(result, f"cancel managed job {name!r}")

    async def cancel_on_cluster(self, cluster: str, job_id: int) -> None:
        result = await self._call("/cancel", {"cluster_name": cluster, "job_ids": [job_id]})
        if result.error_type not in (None, "ClusterNotUpError", "ClusterDoesNotExist"):
            _raise(result, f"cancel job {job_id} on {cluster!r}")

    async def logs(self, where: dict[str, Any], follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        """``where``: ``{"name": ...}`` (managed) or ``{"cluster_name": ..., "job_id": ...}``; streamed text."""
        path = "/logs" if "cluster_name" in where else "/jobs/logs"
        body = {**where, "follow": follow, "tail": tail or (0 if "cluster_name" in where else None)}
        async with self._send("POST", path, json=body, timeout=aiohttp.ClientTimeout(total=None, connect=10)) as resp:
            await _check(resp)
            async for chunk in resp.content.iter_any():
                yield chunk


def _with_blob(blob: str | None) -> dict[str, Any]:
    """A launch body's fields naming an uploaded blob, and the user it was uploaded as (no auth on the server)."""
    if blob is None:
        return {}
    from kuberun_operator.backends.skypilot import upload

    return {"file_mounts_blob_id": blob,
            "env_vars": {"SKYPILOT_USER_ID": upload.USER_HASH, "SKYPILOT_USER": upload.USER_NAME}}


async def _file_range(path: Path, offset: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of ``path`` from ``offset``, 1 MiB at a time (bounded memory)."""
    with open(path, "rb") as f:
        f.seek(offset)
        left = length
        while left > 0:
            block = await asyncio.to_thread(f.read, min(1 << 20, left))
            if not block:
                return
            left -= len(block)
            yield block


class _Guard:
    """An aiohttp request context that turns transport failures into BackendUnavailable."""

    def __init__(self, ctx: Any, endpoint: str) -> None:
        self.ctx, self.endpoint = ctx, endpoint

    async def __aenter__(self) -> aiohttp.ClientResponse:
        try:
            return await self.ctx.__aenter__()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise BackendError("BackendUnavailable", f"SkyPilot API server {self.endpoint} did not answer: "
                               f"{type(exc).__name__}", permanent=False) from None

    async def __aexit__(self, *exc: Any) -> None:
        await self.ctx.__aexit__(*exc)


async def _check(resp: aiohttp.ClientResponse) -> None:
    if resp.status < 400:
        return
    detail = " ".join((await resp.text()).split())[:300]
    if resp.status in (401, 403):
        raise BackendError("BadCredentials", f"the SkyPilot API server rejected the token (HTTP {resp.status}); "
                           "check the token Secret", permanent=False)
    if resp.status == 429 or resp.status >= 500:
        raise BackendError("BackendUnavailable", f"SkyPilot API server busy or failing (HTTP {resp.status}): {detail}",
                           permanent=False)
    raise BackendError("SubmissionRejected", f"SkyPilot API server refused the request (HTTP {resp.status}): {detail}",
                       permanent=True)


def _raise(result: RequestResult, what: str) -> None:
    if result.error_type is not None:
        raise BackendError("BackendUnavailable", f"SkyPilot could not {what}: {result.error_type}: "
                           f"{result.error_message}", permanent=False)


def _plain(message: str | None) -> str:
    """SkyPilot's messages carry terminal colour codes; conditions should not."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", message or "").strip()
