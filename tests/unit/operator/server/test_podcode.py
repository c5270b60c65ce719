"""The pods' code download route, one refusal at a time, over a real directory log store.

The app runs on 127.0.0.1 (aiohttp's test server); the token review and the pod → Job → Experiment
lookups are recorded answers (as in test_podauth.py), so each check is isolated: a removed check
fails a named case. The whole route with real pods and bound tokens is tests/integration/test_code_download.py.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from kuberun.resource import upload
from kuberun.resource.code import store_url
from kuberun_operator.logstore import LogStore, paths
from kuberun_operator.server import auth
from kuberun_operator.server.app import build_app
from kuberun_operator.server.logs import LogReader
from kuberun_operator.server.podauth import PodAuthenticator
from kuberun_operator.server.records import Records
from tests.unit.operator.server.test_podauth import ATTEMPT, EXP, NS, TASK, Lookups, _world

PACKAGE = os.urandom(200_000)
SHA = hashlib.sha256(PACKAGE).hexdigest()
OTHER = os.urandom(1000)
OTHER_SHA = hashlib.sha256(OTHER).hexdigest()


def _code(sha: str, size: int, url: str | None = None) -> dict[str, Any]:
    return {"encoding": "tar+gzip", "sha256": sha, "size": size, "files": 1,
            "storage": {"url": url or store_url(sha)}}


def _spec_world() -> dict[str, Any]:
    world = _world()
    world["exp"]["spec"] = {"title": "t", "tasks": [{"name": TASK, "code": _code(SHA, len(PACKAGE))},
                                                    {"name": "eval", "code": _code(OTHER_SHA, len(OTHER))}]}
    return world


async def _serve(tmp_path: Path, world: dict[str, Any], store: LogStore | None) -> TestServer:
    async def review(body: dict[str, Any]) -> dict[str, Any]:
        return {"status": world["review"] if body["spec"]["token"] == "pod-token" else {"authenticated": False}}

    async def deny(body: dict[str, Any]) -> dict[str, Any]:
        return {"status": {"authenticated": False, "allowed": False}}

    app = build_app(auth.Reviewer(deny, deny), Records(None, None), LogReader(store, None, None, None),
                    PodAuthenticator(review, Lookups(world)))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def _get(server: TestServer, sha: str = SHA, token: str | None = "pod-token", task: str = TASK,
               attempt: int | str = ATTEMPT, ns: str = NS) -> tuple[int, bytes]:
    base = str(server.make_url("")).rstrip("/") + upload.attempt_path(ns, EXP, task, attempt)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(upload.code_download_url(base, sha), headers=headers) as resp:
        return resp.status, await resp.read()


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    store = LogStore.from_url(str(tmp_path / "store"))
    for sha, data in ((SHA, PACKAGE), (OTHER_SHA, OTHER)):
        target = tmp_path / "store" / paths.code_key(NS, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return store


async def test_the_pod_gets_its_own_tasks_package(tmp_path, store):
    server = await _serve(tmp_path, _spec_world(), store)
    try:
        assert await _get(server) == (200, PACKAGE)
    finally:
        await server.close()


CASES = {
    # name: (change to the world, request overrides, expected status)
    "no token": (None, {"token": None}, 401),
    "a token the review rejects (a user's)": (None, {"token": "user-token"}, 401),
    "another task's package of the same experiment": (None, {"sha": OTHER_SHA}, 403),
    "the package through another task's path": (None, {"task": "eval", "sha": OTHER_SHA}, 403),
    "another attempt": (None, {"attempt": ATTEMPT + 1}, 403),
    "another namespace": (None, {"ns": "team-b"}, 403),
    "a digest the spec does not name": (None, {"sha": "0" * 64}, 403),
    "a malformed digest": (None, {"sha": "A" * 64}, 403),
    "a non-numeric attempt": (None, {"attempt": "x"}, 400),
    "the experiment was replaced (another uid)": ("exp|metadata|uid", {}, 403),
    "the spec's storage is not the operator's store": ("url", {}, 403),
    "the package is not in the store": ("unstored", {}, 404),
    "the store holds another size": ("size", {}, 409),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_refusals(tmp_path, store, case):
    change, overrides, expected = CASES[case]
    world = copy.deepcopy(_spec_world())
    task = world["exp"]["spec"]["tasks"][0]
    if change == "exp|metadata|uid":
        world["exp"]["metadata"]["uid"] = "another-uid"
    elif change == "url":
        task["code"]["storage"]["url"] = "s3://elsewhere/pkg.tar.gz"
    elif change == "unstored":
        (tmp_path / "store" / paths.code_key(NS, SHA)).unlink()
    elif change == "size":
        task["code"]["size"] = len(PACKAGE) + 1
    server = await _serve(tmp_path, world, store)
    try:
        code, body = await _get(server, **overrides)
    finally:
        await server.close()
    assert code == expected, body
    assert PACKAGE[:64] not in body and OTHER[:64] not in body


async def test_no_log_store_is_503(tmp_path):
    server = await _serve(tmp_path, _spec_world(), None)
    try:
        assert (await _get(server))[0] == 503
    finally:
        await server.close()


async def test_the_download_streams_with_memory_bounded_by_the_chunk_not_the_size(tmp_path):
    import random
    import tracemalloc

    peaks: dict[int, int] = {}
    for size in (8 << 20, 48 << 20):  # six times the bytes
        rng, digest = random.Random(size), hashlib.sha256()
        target = tmp_path / f"s{size}" / "store" / paths.code_key(NS, "0" * 64)
        target.parent.mkdir(parents=True)
        with open(target, "wb") as out:
            for _ in range(size >> 20):
                piece = rng.randbytes(1 << 20)
                digest.update(piece)
                out.write(piece)
        sha = digest.hexdigest()
        target.rename(target.with_name(f"{sha}.tar.gz"))
        world = _spec_world()
        world["exp"]["spec"]["tasks"][0]["code"] = _code(sha, size)
        server = await _serve(tmp_path, world, LogStore.from_url(str(tmp_path / f"s{size}" / "store")))
        try:
            base = str(server.make_url("")).rstrip("/") + upload.attempt_path(NS, EXP, TASK, ATTEMPT)
            got = hashlib.sha256()
            tracemalloc.start()
            try:
                async with aiohttp.ClientSession() as session, session.get(
                        upload.code_download_url(base, sha), headers={"Authorization": "Bearer pod-token"}) as resp:
                    assert resp.status == 200
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        got.update(chunk)
                peaks[size] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert got.hexdigest() == sha
        finally:
            await server.close()
    assert max(peaks.values()) < 8 << 20, peaks
    assert peaks[48 << 20] < 2 * peaks[8 << 20], peaks
    print(f"download peak: {peaks[8 << 20] / 2**20:.1f} MiB for 8 MiB, {peaks[48 << 20] / 2**20:.1f} MiB for 48 MiB "
          f"(ratio {peaks[48 << 20] / peaks[8 << 20]:.2f} for 6x the bytes)")
