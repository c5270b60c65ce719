"""The record server's code upload streams into the store: memory stays bounded whatever the package's size.

The app runs on 127.0.0.1 (aiohttp's test server) over a real directory log store; the reviews are
recorded answers (the real TokenReview/SubjectAccessReview path is tested against the sandbox in
tests/integration/test_code_store.py). The body is sent from a generator, so the client holds one
64 KiB piece at a time and tracemalloc's peak is the server's (and the store's) buffering.
"""

from __future__ import annotations

import hashlib
import os
import random
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from kuberun.resource import recordserver as contract
from kuberun_operator.logstore import LogStore, paths
from kuberun_operator.server import auth
from kuberun_operator.server.app import build_app
from kuberun_operator.server.logs import LogReader
from kuberun_operator.server.records import Records

PIECE = 64 << 10


async def _allow(body: dict[str, Any]) -> dict[str, Any]:
    if body["kind"] == "TokenReview":
        return {"status": {"authenticated": body["spec"]["token"] == "alice", "user": {"username": "alice"}}}
    attrs = body["spec"]["resourceAttributes"]
    return {"status": {"allowed": attrs == {"group": "kuberun.dev", "resource": "experiments", "verb": "create",
                                            "namespace": "team-a"}}}


def _pieces(seed: int, size: int):
    """``size`` pseudo-random bytes, PIECE at a time, the same for the same seed (never all in memory)."""
    rng = random.Random(seed)
    for i in range(0, size, PIECE):
        yield rng.randbytes(min(PIECE, size - i))


def _sha256(seed: int, size: int) -> str:
    digest = hashlib.sha256()
    for piece in _pieces(seed, size):
        digest.update(piece)
    return digest.hexdigest()


async def _upload(url: str, sha: str, seed: int, size: int) -> int:
    async def body():
        for piece in _pieces(seed, size):
            yield piece

    async with aiohttp.ClientSession() as session, session.put(
            url + contract.code_path("team-a", sha), data=body(),
            headers={"Authorization": "Bearer alice", "Content-Length": str(size)}) as resp:
        await resp.read()
        return resp.status


async def test_a_large_upload_is_stored_with_memory_bounded_by_the_chunk_not_the_size(tmp_path: Path) -> None:
    store = LogStore.from_url(str(tmp_path / "store"))
    app = build_app(auth.Reviewer(_allow, _allow), Records(None, None), LogReader(store, None, None, None))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        peaks = {}
        for size in (8 << 20, 48 << 20):  # 8 MiB and 48 MiB: six times the bytes
            sha = _sha256(size, size)
            tracemalloc.start()
            try:
                assert await _upload(url, sha, size, size) == 201
                peaks[size] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            stored = tmp_path / "store" / paths.code_key("team-a", sha)
            assert stored.stat().st_size == size
        # The peak does not grow with the body: a few chunks (the server's 1 MiB reads, the store's 1 MiB buffer).
        assert max(peaks.values()) < 6 << 20, peaks
        assert peaks[48 << 20] < 2 * peaks[8 << 20], peaks
        print(f"upload peak: {peaks[8 << 20] / 2**20:.1f} MiB for 8 MiB, {peaks[48 << 20] / 2**20:.1f} MiB for 48 MiB "
              f"(ratio {peaks[48 << 20] / peaks[8 << 20]:.2f} for 6x the bytes)")
    finally:
        await server.close()


async def test_a_body_longer_than_declared_or_other_than_named_leaves_nothing(tmp_path: Path) -> None:
    store = LogStore.from_url(str(tmp_path / "store"))
    app = build_app(auth.Reviewer(_allow, _allow), Records(None, None), LogReader(store, None, None, None))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        data = os.urandom(3 << 20)
        async with aiohttp.ClientSession() as session:
            wrong = hashlib.sha256(data + b"x").hexdigest()
            async with session.put(url + contract.code_path("team-a", wrong), data=data,
                                   headers={"Authorization": "Bearer alice"}) as resp:
                assert resp.status == 400
            async with session.head(url + contract.code_path("team-a", wrong), headers={"Authorization": "Bearer alice"}) as resp:
                assert resp.status == 404
            right = hashlib.sha256(data).hexdigest()
            async with session.put(url + contract.code_path("team-b", right), data=data,
                                   headers={"Authorization": "Bearer alice"}) as resp:
                assert resp.status == 403  # create is allowed in team-a only
            async with session.put(url + contract.code_path("team-a", "not-a-digest"), data=data,
                                   headers={"Authorization": "Bearer alice"}) as resp:
                assert resp.status == 400
        assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    finally:
        await server.close()
