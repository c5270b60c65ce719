"""A local Lepton workspace API on 127.0.0.1: the endpoints and payload shapes of leptonai 0.47.1.

Read from the SDK's own client code (``leptonai/api/v2/job.py``, ``types/job.py``,
``job_validation.py``): it checks the Bearer token, validates a created job the way
``validate_job_create`` does, keeps jobs (alive, or archived once finished), pages listings
under ``{"jobs": [...]}``, lists replicas and streams their logs. Tests drive the lifecycle
(``set_state``) and inject faults (``fail_next``); ``requests`` records every call.

The workspace's file storage is modelled on the SDK's ``StorageAPI`` (leptonai 0.27.3,
``leptonai/api/v1/storage.py``; 0.47 dropped the module, the service kept the routes):
``HEAD /storage/{fs}/{path}`` answers 200 when it exists; ``PUT`` creates a directory
(``create_dir``); ``POST`` with a multipart field ``file`` creates a file (``create_file``) in an
existing directory; ``GET`` streams a file (``get_file``) or lists a directory as ``DirInfo``
(``{type, name, path}``, ``get_dir``); ``DELETE`` removes (``delete_file_or_dir``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_ID = re.compile(r"^[a-z][a-z0-9-]*$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FINISHED = {"Completed", "Failed", "Stopped"}


@dataclass
class FakeLepton:
    workspace: str = "ws"
    token: str = "good-token"
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: list[tuple[int, str]] = field(default_factory=list)
    url: str = ""
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (file system, path) -> bytes
    dirs: set[tuple[str, str]] = field(default_factory=lambda: {("default", "/")})

    # -- test controls ---------------------------------------------------------------------------

    def set_state(self, job_id: str, state: str, **counts: int) -> None:
        status = self.jobs[job_id]["status"]
        status.update(state=state, **counts)
        if state in FINISHED:
            status["completion_time"] = int(time.time())

    def fail_next(self, status: int, message: str = "", times: int = 1) -> None:
        self.faults.extend([(status, message)] * times)

    def creates(self) -> int:
        return sum(1 for method, path in self.requests if method == "POST" and path.endswith("/jobs"))

    # -- the API -----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth_and_faults], client_max_size=128 << 20)  # code packages
        base = f"/api/v2/workspaces/{self.workspace}"
        app.router.add_post(f"{base}/jobs", self._create)
        app.router.add_get(f"{base}/jobs", self._list)
        app.router.add_get(f"{base}/jobs/{{id}}", self._get)
        app.router.add_delete(f"{base}/jobs/{{id}}", self._delete)
        app.router.add_get(f"{base}/jobs/{{id}}/replicas", self._replicas)
        app.router.add_get(f"{base}/jobs/{{id}}/replicas/{{rid}}/log", self._log)
        storage = f"{base}/storage/{{fs}}{{path:/.*}}"
        app.router.add_route("HEAD", storage, self._storage_head)
        app.router.add_get(storage, self._storage_get, allow_head=False)
        app.router.add_put(storage, self._storage_mkdir)
        app.router.add_post(storage, self._storage_upload)
        app.router.add_delete(storage, self._storage_delete)
        return app

    # -- the workspace's file storage (StorageAPI) -------------------------------------------------

    @staticmethod
    def _where(request: web.Request) -> tuple[str, str]:
        path = "/" + "/".join(part for part in request.match_info["path"].split("/") if part)
        return request.match_info["fs"], path

    async def _storage_head(self, request: web.Request) -> web.Response:
        where = self._where(request)
        if where in self.files:
            return web.Response(status=200, headers={"Content-Length": str(len(self.files[where]))})
        return web.Response(status=200 if where in self.dirs else 404)

    async def _storage_get(self, request: web.Request) -> web.StreamResponse:
        fs, path = where = self._where(request)
        if where in self.files:
            return web.Response(body=self.files[where], content_type="application/octet-stream")
        if where not in self.dirs:
            return web.json_response({"code": "NotFound", "message": f"{path} not found"}, status=404)
        prefix = path.rstrip("/") + "/"
        children = {p for f, p in (*self.files, *self.dirs) if f == fs and p.startswith(prefix) and p != path}
        listed = sorted({prefix + c[len(prefix):].split("/")[0] for c in children})
        return web.json_response([{"type": "file" if (fs, c) in self.files else "dir", "name": c.rsplit("/", 1)[1],
                                   "path": c} for c in listed])

    async def _storage_mkdir(self, request: web.Request) -> web.Response:
        fs, path = self._where(request)
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):  # as ``mkdir -p``
            self.dirs.add((fs, "/" + "/".join(parts[:i])))
        return web.json_response({})

    async def _storage_upload(self, request: web.Request) -> web.Response:
        fs, path = where = self._where(request)
        if (fs, path.rsplit("/", 1)[0] or "/") not in self.dirs:
            return web.json_response({"code": "NotFound", "message": "parent directory not found"}, status=404)
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return web.json_response({"code": "InvalidParameter", "message": "multipart field 'file' required"}, status=400)
        self.files[where] = upload.file.read()
        return web.json_response({})

    async def _storage_delete(self, request: web.Request) -> web.Response:
        where = self._where(request)
        if self.files.pop(where, None) is None and where not in self.dirs:
            return web.json_response({"code": "NotFound", "message": "not found"}, status=404)
        self.dirs.discard(where)
        return web.json_response({})

    @web.middleware
    async def _auth_and_faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"code": "Unauthorized", "message": "invalid token"}, status=401)
        if self.faults:
            status, message = self.faults.pop(0)
            return web.json_response({"code": str(status), "message": message}, status=status)
        return await handler(request)

    async def _create(self, request: web.Request) -> web.Response:
        job = await request.json()
        problem = _invalid(job)
        if problem:
            return web.json_response({"code": "InvalidParameter", "message": problem}, status=400)
        job_id = job["metadata"].get("id") or job["metadata"]["name"]
        if job_id in self.jobs:
            return web.json_response({"code": "AlreadyExists", "message": f"job {job_id} exists"}, status=409)
        job["metadata"].update(id=job_id, created_at=int(time.time() * 1000))
        job["status"] = {"job_name": job_id, "state": "Starting", "ready": 0, "active": 0, "failed": 0, "succeeded": 0,
                         "creation_time": int(time.time()), "completion_time": None, "job_history": []}
        self.jobs[job_id] = job
        return web.json_response(job)

    async def _list(self, request: web.Request) -> web.Response:
        mode = request.query.get("job_query_mode", "alive_only")
        jobs = [j for j in self.jobs.values() if mode != "alive_only" or j["status"]["state"] not in FINISHED]
        page, size = int(request.query.get("page", 1)), int(request.query.get("page_size", 500))
        return web.json_response({"jobs": jobs[(page - 1) * size: page * size]})

    async def _get(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None or (request.query.get("job_query_mode") == "alive_only" and job["status"]["state"] in FINISHED):
            return web.json_response({"code": "NotFound", "message": "job not found"}, status=404)
        return web.json_response(job)

    async def _delete(self, request: web.Request) -> web.Response:
        if self.jobs.pop(request.match_info["id"], None) is None:
            return web.json_response({"code": "NotFound", "message": "job not found"}, status=404)
        return web.json_response({})

    async def _replicas(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return web.json_response({"code": "NotFound", "message": "job not found"}, status=404)
        names = [f"{job['metadata']['id']}-{i}" for i in range(job["spec"].get("completions", 1))]
        return web.json_response([{"metadata": {"id": n, "name": n}, "id": n, "status": {}} for n in names])

    async def _log(self, request: web.Request) -> web.StreamResponse:
        key = (request.match_info["id"], request.match_info["rid"])
        if key not in self.logs:
            return web.json_response({"code": "NotFound", "message": "replica not found"}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for line in self.logs[key].splitlines(keepends=True):
            await response.write(line.encode())
        await response.write_eof()
        return response


def _invalid(job: dict[str, Any]) -> str | None:
    """What ``leptonai.api.v2.job_validation.validate_job_create`` would refuse, or None."""
    meta, spec = job.get("metadata") or {}, job.get("spec") or {}
    name = meta.get("id") or meta.get("name") or ""
    if not _ID.fullmatch(name) or len(name) > 36 or name.endswith("-"):
        return f"invalid job name {name!r}"
    for key in (meta.get("labels") or {}):
        if len(key) > 63 or not _LABEL_KEY.fullmatch(key):
            return f"invalid label key {key!r}"
    for env in spec.get("envs") or []:
        if not _ENV_NAME.fullmatch(env.get("name", "")) or ("value" in env) == ("value_from" in env):
            return f"invalid env {env!r}"
    if not spec.get("resource_shape") or not (spec.get("container") or {}).get("command"):
        return "resource_shape and container.command are required"
    if any(int(spec.get(k, 1)) < 1 for k in ("completions", "parallelism")):
        return "completions and parallelism must be positive"
    return None


@contextlib.contextmanager
def serving(fake: FakeLepton) -> Iterator[FakeLepton]:
    """Serve ``fake`` on 127.0.0.1 (a free port) from its own event loop thread."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app())
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}/api/v2/workspaces/{fake.workspace}"
    thread = threading.Thread(target=loop.run_forever, name="fake-lepton", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
