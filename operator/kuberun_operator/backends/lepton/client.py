"""A narrow async client for Lepton's job API (the calls ``leptonai.api.v2.job.JobAPI`` makes).

Why not the ``leptonai`` SDK: it pulls ``ray[default]`` (419 MB) and is synchronous. The few
calls the bridge needs are plain HTTP against the workspace URL, with the same paths, query
parameters and JSON bodies the SDK sends (leptonai 0.47.1, ``api/v2/job.py``):

    POST   /jobs                                    create (body: LeptonJob, exclude_none)
    GET    /jobs/{id}?job_query_mode=alive_and_archive
    DELETE /jobs/{id}?job_query_mode=alive_only
    GET    /jobs/{id}/replicas?job_query_mode=alive_and_archive
    GET    /jobs/{id}/replicas/{replica}/log        streamed text

A packaged task's code goes into the workspace's file storage with the calls of the SDK's
``StorageAPI`` (leptonai 0.27.3, ``api/v1/storage.py``: 0.47 has no storage module; the routes are the
workspace's):

    HEAD   /storage/{fs}/{path}                      check_exists (200: there)
    PUT    /storage/{fs}/{path}                      create_dir
    POST   /storage/{fs}/{path}                      create_file (multipart field "file")
    GET    /storage/{fs}/{path}                      get_file (streamed)
    DELETE /storage/{fs}/{path}                      delete_file_or_dir

The token is read from its mounted Secret file on every call (so a rotated Secret takes effect
without a restart) and is never logged or put in an error message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from kuberun_operator.backends.base import BackendError

_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


class LeptonClient:
    """One workspace: ``url`` is the workspace API base, e.g. ``https://.../api/v2/workspaces/ws``."""

    def __init__(self, workspace: str, url: str, token_file: Path | None, session: aiohttp.ClientSession) -> None:
        self.workspace, self.url, self.token_file, self.session = workspace, url.rstrip("/"), token_file, session

    def _headers(self) -> dict[str, str]:
        if self.token_file is None:
            return {}
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise BackendError("BadCredentials", f"Lepton workspace {self.workspace!r}: cannot read the token file "
                               f"{self.token_file} ({exc.strerror})", permanent=False) from None
        return {"Authorization": f"Bearer {token}"}

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
                    missing_ok: bool = False) -> Any:
        try:
            async with self.session.request(method, self.url + path, json=json, params=params,
                                            headers=self._headers(), timeout=_TIMEOUT) as resp:
                if resp.status == 404 and missing_ok:
                    return None
                text = await resp.text()
                if resp.status >= 400:
                    raise error_for(self.workspace, resp.status, text)
                return await resp.json(content_type=None) if text.strip() else {}
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise BackendError("BackendUnavailable", f"Lepton workspace {self.workspace!r} at {self.url} did not answer: "
                               f"{type(exc).__name__}", permanent=False) from None

    async def get_job(self, job_id: str) -> dict[str, Any] | None:
        return await self._call("GET", f"/jobs/{job_id}", params={"job_query_mode": "alive_and_archive"}, missing_ok=True)

    async def create_job(self, job: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/jobs", json=job)

    async def delete_job(self, job_id: str) -> None:
        await self._call("DELETE", f"/jobs/{job_id}", params={"job_query_mode": "alive_only"}, missing_ok=True)

    async def replicas(self, job_id: str) -> list[dict[str, Any]]:
        found = await self._call("GET", f"/jobs/{job_id}/replicas", params={"job_query_mode": "alive_and_archive"},
                                 missing_ok=True)
        return found if isinstance(found, list) else []

    # -- the workspace's file storage (code packages) ------------------------------------------------

    def _storage(self, file_system: str, path: str) -> str:
        return f"{self.url}/storage/{file_system}{path}"

    async def _storage_call(self, method: str, file_system: str, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """One storage request; the response is read (or discarded) by the caller's ``async with``."""
        try:
            return await self.session.request(method, self._storage(file_system, path), headers=self._headers(),
                                              timeout=kwargs.pop("timeout", _TIMEOUT), **kwargs)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise BackendError("BackendUnavailable", f"Lepton workspace {self.workspace!r} storage did not answer: "
                               f"{type(exc).__name__}", permanent=False) from None

    async def stored_size(self, file_system: str, path: str) -> int | None:
        """The size of a stored file (HEAD), or None when there is none."""
        async with await self._storage_call("HEAD", file_system, path) as resp:
            if resp.status == 404:
                return None
            if resp.status >= 400:
                raise error_for(self.workspace, resp.status, "")
            return resp.content_length

    async def make_dir(self, file_system: str, path: str) -> None:
        async with await self._storage_call("PUT", file_system, path) as resp:
            if resp.status >= 400 and resp.status != 409:  # 409: there already
                raise error_for(self.workspace, resp.status, await resp.text())

    async def put_file(self, file_system: str, path: str, local: Path) -> None:
        """Upload ``local`` as ``path`` (multipart, streamed from the file)."""
        with open(local, "rb") as f:
            form = aiohttp.FormData()
            form.add_field("file", f, filename=local.name, content_type="application/octet-stream")
            async with await self._storage_call("POST", file_system, path, data=form,
                                                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=180)) as resp:
                if resp.status >= 400:
                    raise error_for(self.workspace, resp.status, await resp.text())

    async def file_sha256(self, file_system: str, path: str) -> tuple[int, str] | None:
        """(size, sha256) of a stored file, read back in a stream; None when there is none."""
        import hashlib

        async with await self._storage_call("GET", file_system, path,
                                            timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=180)) as resp:
            if resp.status == 404:
                return None
            if resp.status >= 400:
                raise error_for(self.workspace, resp.status, await resp.text())
            digest, size = hashlib.sha256(), 0
            async for block in resp.content.iter_chunked(1 << 20):
                digest.update(block)
                size += len(block)
            return size, digest.hexdigest()

    async def delete_file(self, file_system: str, path: str) -> None:
        async with await self._storage_call("DELETE", file_system, path) as resp:
            if resp.status >= 400 and resp.status != 404:
                raise error_for(self.workspace, resp.status, await resp.text())

    async def replica_log(self, job_id: str, replica: str, timeout: float | None) -> AsyncIterator[bytes]:
        """The replica's log, streamed as the server sends it; ``timeout`` ends a live stream."""
        limit = aiohttp.ClientTimeout(total=timeout, connect=10)
        try:
            async with self.session.get(f"{self.url}/jobs/{job_id}/replicas/{replica}/log", headers=self._headers(),
                                        timeout=limit) as resp:
                if resp.status >= 400:
                    raise error_for(self.workspace, resp.status, await resp.text())
                async for chunk in resp.content.iter_any():
                    yield chunk
        except asyncio.TimeoutError:
            return  # a live log ends when the caller's time is up, as the SDK's get_log(timeout=...) does
        except aiohttp.ClientError as exc:
            raise BackendError("BackendUnavailable", f"Lepton log stream broke: {type(exc).__name__}",
                               permanent=False) from None


def error_for(workspace: str, status: int, text: str) -> BackendError:
    """A Lepton HTTP error as a typed BackendError whose reason a user can act on."""
    detail = _detail(text)
    where = f"Lepton workspace {workspace!r}"
    if status in (401, 403):
        # Transient: an admin can fix the Secret and the next reconcile succeeds.
        return BackendError("BadCredentials", f"{where} rejected the token (HTTP {status}); check the token Secret",
                            permanent=False)
    if status == 429 or _mentions_capacity(detail):
        return BackendError("CapacityUnavailable", f"{where} has no capacity or quota now (HTTP {status}): {detail}",
                            permanent=False)
    if status in (408, 502, 503, 504) or status >= 500:
        return BackendError("BackendUnavailable", f"{where} failed (HTTP {status}): {detail}", permanent=False)
    return BackendError("SubmissionRejected", f"{where} rejected the job (HTTP {status}): {detail}", permanent=True)


def _detail(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit] or "no details"


def _mentions_capacity(detail: str) -> bool:
    lowered = detail.lower()
    return any(word in lowered for word in ("quota", "insufficient", "capacity"))
