"""Every node of a multi-node attempt uploads its own artifacts, and only its own (#14).

The app runs on 127.0.0.1 over a real directory log store; the token review and the pod → Job →
Experiment lookups are recorded answers (``test_podauth``), the pod being pod 1 of an Indexed Job
(its ``job-completion-index`` annotation, which the Job controller writes). The attacks: node 1's
token naming node 2 or node 0's route, or smuggling ``nodes/2/`` into the attempt's own route.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from kuberun.resource import upload
from kuberun_operator.backends.kubernetes.manifests import COMPLETION_INDEX_ANNOTATION
from kuberun_operator.logstore import LogStore, paths
from kuberun_operator.server import auth
from kuberun_operator.server.app import build_app
from kuberun_operator.server.logs import LogReader
from kuberun_operator.server.podauth import PodAuthenticator
from kuberun_operator.server.records import Records
from tests.unit.operator.server.test_podauth import ATTEMPT, EXP, EXP_UID, NS, TASK, Lookups, _world


def _node_world(index: str | None = "1") -> dict[str, Any]:
    world = copy.deepcopy(_world())
    if index is not None:
        world["pod"]["metadata"]["annotations"] = {COMPLETION_INDEX_ANNOTATION: index}
    return world


async def _serve(world: dict[str, Any], store: LogStore) -> TestServer:
    async def review(body: dict[str, Any]) -> dict[str, Any]:
        return {"status": world["review"] if body["spec"]["token"] == "pod-token" else {"authenticated": False}}

    app = build_app(auth.Reviewer(review, review), Records(None, None), LogReader(store, None, None, None),
                    PodAuthenticator(review, Lookups(world)))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def _put(server: TestServer, url_path: str, body: bytes = b"ckpt\n") -> int:
    url = str(server.make_url("")).rstrip("/") + url_path
    headers = {"Authorization": "Bearer pod-token", "Content-Length": str(len(body))}
    async with aiohttp.ClientSession() as session, session.put(url, data=body, headers=headers) as resp:
        return resp.status


BASE = upload.attempt_path(NS, EXP, TASK, ATTEMPT)
PREFIX = paths.artifacts_prefix(NS, EXP, EXP_UID, TASK, ATTEMPT)


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    return LogStore.from_url(str(tmp_path / "store"))


def _manifest(tmp_path: Path) -> list[str]:
    found = tmp_path / "store" / paths.manifest_key(PREFIX)
    return sorted(e["path"] for e in json.loads(found.read_text())["entries"]) if found.exists() else []


async def test_node_1_uploads_under_its_own_node_prefix_into_the_attempts_manifest(tmp_path, store):
    server = await _serve(_node_world("1"), store)
    try:
        assert await _put(server, upload.artifact_path(upload.node_base(BASE, 1), "ckpt/rank1.pt")) == 201
    finally:
        await server.close()
    assert _manifest(tmp_path) == ["nodes/1/ckpt/rank1.pt"]
    assert (tmp_path / "store" / paths.join(PREFIX, "nodes/1/ckpt/rank1.pt")).read_bytes() == b"ckpt\n"


@pytest.mark.parametrize(("index", "url_path", "expected"), [
    ("1", upload.artifact_path(upload.node_base(BASE, 2), "x.pt"), 403),   # another node's prefix
    ("1", upload.artifact_path(upload.node_base(BASE, 0), "x.pt"), 403),   # node 0's
    (None, upload.artifact_path(upload.node_base(BASE, 1), "x.pt"), 403),  # a one-pod Job's pod is node 0
    ("1", upload.artifact_path(BASE, "nodes/2/x.pt"), 400),                 # smuggled through the attempt's route
    ("0", upload.artifact_path(BASE, "nodes/1/x.pt"), 400),                 # ... by node 0 too
    ("1", f"{BASE}/nodes/01/artifacts/x.pt", 400),                         # a second spelling of node 1
    ("1", f"{BASE}/nodes/-1/artifacts/x.pt", 400),
    ("one", upload.artifact_path(upload.node_base(BASE, 1), "x.pt"), 403),  # an index the Job controller never wrote
])
async def test_a_pod_cannot_write_another_nodes_files(tmp_path, store, index, url_path, expected):
    server = await _serve(_node_world(index), store)
    try:
        assert await _put(server, url_path) == expected
    finally:
        await server.close()
    assert _manifest(tmp_path) == [] and not any((tmp_path / "store").rglob("x.pt"))


async def test_node_0_keeps_the_attempts_own_route(tmp_path, store):
    server = await _serve(_node_world("0"), store)
    try:
        assert await _put(server, upload.artifact_path(BASE, "model.pt")) == 201
        assert await _put(server, f"{BASE}/{upload.METRICS}", b'{"name":"loss","value":1,"step":0}\n') == 201
    finally:
        await server.close()
    assert _manifest(tmp_path) == ["model.pt"]


def test_the_runner_uploads_once_per_pod_and_other_nodes_under_their_prefix(monkeypatch, tmp_path):
    from kuberun.upload import Uploader

    monkeypatch.setenv(upload.URL_ENV, "https://rs.example" + BASE)
    monkeypatch.setenv(upload.TOKEN_ENV, str(tmp_path / "token"))
    monkeypatch.setenv("KUBERUN_METRICS_FILE", str(tmp_path / "metrics.jsonl"))
    for name in ("NODE_RANK", "LOCAL_RANK", "RANK"):
        monkeypatch.delenv(name, raising=False)
    alone = Uploader.from_env()
    assert alone is not None and alone.base.endswith(BASE) and alone.metrics_file is not None
    monkeypatch.setenv("NODE_RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("RANK", "16")
    node = Uploader.from_env()
    assert node is not None and node.base.endswith(BASE + "/nodes/2") and node.metrics_file is None  # node 0 keeps the series
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert Uploader.from_env() is None  # the pod's other processes share its directory: one uploader per pod
