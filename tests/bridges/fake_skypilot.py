"""A faithful in-memory SkyPilot API server behind the bridge's narrow client interface (SkypilotApi).

Faithful to what the real 0.14.1 server does (sky/jobs/server/server.py, sky/jobs/state.py):
a launch is a request that is PENDING/RUNNING while the controller provisions, and only then
does a job appear in the managed-jobs queue under the launch's name, with a new integer id and
the ManagedJobStatus values; cancelling by name cancels the newest job with that name; the
queue keeps finished jobs. Tests move jobs through their lifecycle with ``set_status``.

The fixtures at the end put it behind the bridge for the SkyPilot tests (``test_skypilot.py``,
``test_skypilot_code.py``): ``fake`` replaces the bridge's client, ``config_file`` configures the bridge.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberun_operator.backends.skypilot import backend as skypilot_backend
from kuberun_operator.backends.skypilot.client import RequestResult
from tests.bridges.helpers import write_config


class FakeSkypilot:
    def __init__(self) -> None:
        self.requests: dict[str, RequestResult] = {}
        self.launched: list[dict[str, Any]] = []  # the parsed task YAML of every launch
        self.jobs: list[dict[str, Any]] = []
        self.logs_text: dict[str, str] = {}
        self.cancelled: list[str] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.launch_error: tuple[str, str] | None = None  # (exception type, message) for the next launch
        self.blobs: dict[str, bytes] = {}  # uploaded file-mount zips by blob id
        self.uploads = 0

    # -- test controls -------------------------------------------------------------------------

    def finish_provisioning(self) -> None:
        """The controller is up: every pending launch becomes a PENDING managed job."""
        with self._lock:
            for request_id, result in list(self.requests.items()):
                if result.status == "RUNNING":
                    task = next(t for t in self.launched if t["_request"] == request_id)
                    job_id = next(self._ids)
                    self.jobs.append({"job_id": job_id, "job_name": task["name"], "status": "PENDING",
                                      "submitted_at": time.time(), "failure_reason": None})
                    self.requests[request_id] = RequestResult("SUCCEEDED", [job_id])

    def set_status(self, name: str, status: str, failure_reason: str | None = None) -> None:
        job = self._newest(name)
        assert job is not None, f"no job {name}"
        job.update(status=status, failure_reason=failure_reason)
        if status == "RUNNING":
            job["start_at"] = time.time()
        elif status in ("SUCCEEDED", "CANCELLED") or status.startswith("FAILED"):
            job["end_at"] = time.time()

    def _newest(self, name: str) -> dict[str, Any] | None:
        found = [j for j in self.jobs if j["job_name"] == name]
        return found[-1] if found else None

    # -- SkypilotApi ---------------------------------------------------------------------------

    async def upload_blob(self, zip_path: Any, blob_id: str) -> None:
        """As /upload_v2: a blob id already stored is not uploaded again (``GET /upload_v2/blob``)."""
        from kuberun_operator.backends.skypilot.upload import blob_id as computed

        assert computed(zip_path) == blob_id  # the server extracts the zip; its id is the content's
        if blob_id not in self.blobs:
            self.blobs[blob_id] = zip_path.read_bytes()
            self.uploads += 1

    async def launch_managed(self, task_yaml: str, name: str, blob: str | None = None) -> str:
        task = yaml.safe_load(task_yaml)
        assert task["name"] == name
        assert blob is None or blob in self.blobs, "a launch names a blob that was never uploaded"
        request_id = str(uuid.uuid4())
        with self._lock:
            self.launched.append({**task, "_request": request_id, "_blob": blob})
            if self.launch_error is not None:
                kind, message = self.launch_error
                self.requests[request_id] = RequestResult("FAILED", None, kind, message)
            else:
                self.requests[request_id] = RequestResult("RUNNING")
        return request_id

    async def launch_on_cluster(self, task_yaml: str, cluster: str, blob: str | None = None) -> str:
        raise NotImplementedError("the tests use managed jobs")

    async def request(self, request_id: str) -> RequestResult | None:
        return self.requests.get(request_id)

    async def managed_jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(job) for job in self.jobs]

    async def cluster_jobs(self, cluster: str) -> list[dict[str, Any]]:
        return []

    async def cancel_managed(self, name: str) -> None:
        self.cancelled.append(name)
        job = self._newest(name)
        if job is not None and job["status"] not in ("SUCCEEDED", "CANCELLED") and not job["status"].startswith("FAILED"):
            self.set_status(name, "CANCELLED")

    async def cancel_on_cluster(self, cluster: str, job_id: int) -> None:
        raise NotImplementedError

    async def logs(self, where: dict[str, Any], follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        text = self.logs_text.get(where.get("name", ""), "")
        lines = text.splitlines(keepends=True)
        for line in lines[-tail:] if tail else lines:
            yield line.encode()


# -- behind the bridge ------------------------------------------------------------------------------------


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeSkypilot:
    """The fake in place of the bridge's client: every SkypilotClient the operator makes is this one server."""
    server = FakeSkypilot()
    monkeypatch.setattr(skypilot_backend, "SkypilotClient", lambda *args: server)
    return server


@pytest.fixture()
def config_file(tmp_path: Path) -> Path:
    """The bridge's config for the fake: an endpoint nothing listens on (the fake replaces the client),
    polled every 0.2 s, every namespace and cluster granted."""
    return write_config(tmp_path / "backends.yaml", {"skypilot": {"endpoint": "http://127.0.0.1:9", "pollIntervalSeconds": 0.2,
                                                                     "allowedNamespaces": ["*"], "allowedClusters": ["*"]}})
