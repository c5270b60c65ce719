"""Archived logs, on the directory store and on S3 (moto on loopback): streaming with bounded memory,
atomic visibility, idempotent re-upload, cleanup after failure or cancellation, range and tail reads."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator

import pytest

from kuberun_operator.logstore import LogNotFoundError, LogStore, paths
from tests.logstore.conftest import PART, Backend, MiB

KEY = paths.log_key("team-a", "sweep-x2k4p", "0f3c9e2a-1111-4222-8333-444455556666", "train", 0)
BLOCK = 64 << 10


def block(i: int) -> bytes:
    """Deterministic, non-repeating content: a block of a 50 MB log."""
    return hashlib.sha256(str(i).encode()).digest() * (BLOCK // 32)


async def blocks(count: int) -> AsyncIterator[bytes]:
    for i in range(count):
        yield block(i)


async def read_all(store: LogStore, key: str, **kwargs: int) -> bytes:
    return b"".join([chunk async for chunk in await store.open_log(key, **kwargs)])


def test_the_key_layout_is_namespace_experiment_uid8_task_attempt() -> None:
    assert KEY == "team-a/sweep-x2k4p-0f3c9e2a/train/0/log"


async def test_a_50_mb_log_streams_through_with_bounded_memory(backend: Backend) -> None:
    store = backend.store
    count = 50 * MiB // BLOCK
    expected = hashlib.sha256()
    for i in range(count):
        expected.update(block(i))
    # Warm up: the S3 client loads its service model (~10 MB, once per process) on first use.
    await store.put_bytes("warm/up", b"x" * (PART + 1))
    await read_all(store, "warm/up")

    tracemalloc.start()
    try:
        location = await store.put_log(KEY, blocks(count))
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest, size = hashlib.sha256(), 0
        async for chunk in await store.open_log(KEY):
            assert len(chunk) <= store.options.chunk_size
            digest.update(chunk)
            size += len(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (location.size, location.sha256) == (50 * MiB, expected.hexdigest())
    assert (size, digest.hexdigest()) == (location.size, location.sha256)
    assert location.url == store.url_for(KEY)
    chunk = store.options.chunk_size
    # The bound is a small multiple of the buffers, whatever the log's size (50 MB here).
    write_bound = 3 * PART + 3 * chunk if backend.kind == "s3" else 5 * chunk
    print(f"{backend.kind}: 50 MiB log, write peak {write_peak / MiB:.1f} MiB, read peak {read_peak / MiB:.1f} MiB")
    assert write_peak < write_bound, f"write peak {write_peak} >= {write_bound}"
    assert read_peak < 5 * chunk, f"read peak {read_peak}"
    assert write_peak < location.size / 2
    assert backend.pending_uploads() == []


async def test_a_reader_never_sees_a_partial_log(backend: Backend) -> None:
    store = backend.store
    observed: list[tuple[bool, bool, bool]] = []

    async def watched(count: int) -> AsyncIterator[bytes]:
        for i in range(count):
            yield block(i)
        # The upload is under way (past one S3 part, so a multipart upload has begun): nothing to see.
        try:
            await store.open_log(KEY)
            readable = True
        except LogNotFoundError:
            readable = False
        observed.append((await store.exists(KEY), KEY in backend.objects(), readable))

    first = await store.put_log(KEY, watched(PART // BLOCK + 8))
    assert observed == [(False, False, False)]
    assert await store.exists(KEY)

    # Replacing a log: mid-upload a reader sees the old log, whole.
    observed.clear()
    old = await read_all(store, KEY)
    contents: list[bytes] = []

    async def replacing() -> AsyncIterator[bytes]:
        for i in range(PART // BLOCK + 8):
            yield block(i + 1)
            if i == PART // BLOCK + 2:
                contents.append(await read_all(store, KEY))

    second = await store.put_log(KEY, replacing())
    assert contents == [old]
    assert hashlib.sha256(old).hexdigest() == first.sha256
    assert (await store.size(KEY), hashlib.sha256(await read_all(store, KEY)).hexdigest()) == (second.size, second.sha256)
    assert backend.objects() == [KEY]


async def test_uploading_the_same_log_again_changes_nothing(backend: Backend) -> None:
    store = backend.store
    first = await store.put_log(KEY, blocks(PART // BLOCK + 3))
    second = await store.put_log(KEY, blocks(PART // BLOCK + 3))
    assert first == second
    assert backend.objects() == [KEY]
    assert backend.pending_uploads() == []
    assert hashlib.sha256(await read_all(store, KEY)).hexdigest() == first.sha256


async def test_a_failing_producer_leaves_no_object_no_temp_file_and_no_open_upload(backend: Backend) -> None:
    store = backend.store

    async def failing() -> AsyncIterator[bytes]:
        for i in range(PART // BLOCK + 4):  # past one part: the S3 multipart upload has parts to free
            yield block(i)
        raise ConnectionResetError("pod log stream broke")

    with pytest.raises(ConnectionResetError, match="pod log stream broke"):
        await store.put_log(KEY, failing())
    assert not await store.exists(KEY)
    assert backend.objects() == []
    assert backend.pending_uploads() == []


async def test_a_cancelled_upload_leaves_nothing(backend: Backend) -> None:
    store = backend.store
    started = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        for i in range(PART // BLOCK + 4):
            yield block(i)
        started.set()
        await asyncio.Event().wait()  # the pod's log goes quiet; the operator shuts down
        yield b"never"

    task = asyncio.create_task(store.put_log(KEY, stalls()))
    await asyncio.wait_for(started.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.objects() == []
    assert backend.pending_uploads() == []


async def test_chunks_that_are_not_bytes_are_refused_and_nothing_is_written(backend: Backend) -> None:
    async def text() -> AsyncIterator[bytes]:
        yield b"ok\n"
        yield "a str"  # type: ignore[misc]

    with pytest.raises(TypeError, match="chunks must be bytes, not str"):
        await backend.store.put_log(KEY, text())
    assert backend.objects() == []


async def test_range_and_tail_reads(backend: Backend, make) -> None:
    store = make(backend.kind, chunk_size=4096).store  # small chunks: most reads span several
    lines = [f"step {i} loss {1 / (i + 1):.4f}\n".encode() for i in range(2000)]
    data = b"".join(lines)
    location = await store.put_bytes(KEY, data)
    assert location.size == len(data)

    assert await read_all(store, KEY) == data
    assert await read_all(store, KEY, offset=100, length=50) == data[100:150]
    assert await read_all(store, KEY, offset=len(data) - 5, length=500) == data[-5:]
    assert await read_all(store, KEY, offset=len(data) + 10) == b""
    assert await read_all(store, KEY, tail_bytes=33) == data[-33:]
    assert await read_all(store, KEY, tail_bytes=10 * len(data)) == data
    assert await read_all(store, KEY, tail_lines=3) == b"".join(lines[-3:])
    assert await read_all(store, KEY, tail_lines=0) == b""
    assert await read_all(store, KEY, tail_lines=5000) == data
    chunks = [c async for c in await store.open_log(KEY, offset=1, length=10_000)]
    assert [len(c) for c in chunks] == [4096, 4096, 1808]

    unterminated = b"first\nsecond\nthird"
    await store.put_bytes("x/no-newline", unterminated)
    assert await read_all(store, "x/no-newline", tail_lines=2) == b"second\nthird"
    with pytest.raises(ValueError, match="tail_lines must be an integer >= 0"):
        await store.open_log(KEY, tail_lines=-1)


async def test_a_reader_that_stops_early_closes_the_object(backend: Backend) -> None:
    store = backend.store
    await store.put_log(KEY, blocks(40))
    def open_on_key() -> list[str]:
        fds = [os.path.join("/proc/self/fd", fd) for fd in os.listdir("/proc/self/fd")]
        return [fd for fd in fds if os.path.realpath(fd).endswith(KEY)]

    reader = await store.open_log(KEY)
    first = await reader.__anext__()
    if backend.kind == "dir":
        assert len(open_on_key()) == 1
    await reader.aclose()
    assert first == b"".join(block(i) for i in range(40))[: store.options.chunk_size]
    assert open_on_key() == []


async def test_a_missing_log_is_not_found_at_once(backend: Backend) -> None:
    assert not await backend.store.exists(KEY)
    with pytest.raises(LogNotFoundError, match="not found in"):
        await backend.store.open_log(KEY)
    await backend.store.put_bytes("team-a/other/log", b"x")
    with pytest.raises(LogNotFoundError):  # a "directory" prefix is not a log
        await backend.store.open_log("team-a")


async def test_a_log_past_the_bound_is_cut_and_says_so(backend: Backend, make) -> None:
    store = make(backend.kind, max_log_bytes=100_000).store
    location = await store.put_log(KEY, blocks(10))
    data = await read_all(store, KEY)
    marker = b"\nkuberun: log truncated at 100000 bytes\n"
    assert location.truncated
    assert data == (b"".join(block(i) for i in range(2)))[:100_000] + marker
    assert location.size == len(data) == 100_000 + len(marker)
