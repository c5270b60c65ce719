"""The log store: attempts' logs and artifacts in a directory or an S3-compatible bucket, by URL.

The operator is asyncio and the backends (fsspec's local filesystem, s3fs' blocking face) are not, so
every backend call runs in a worker thread (``asyncio.to_thread``) and the event loop only hashes and
hands over chunks. Memory stays bounded by construction: a write holds at most ``chunk_size`` of the
producer's bytes plus the sink's buffer (about one S3 part); a read yields ``chunk_size`` at a time and
never asks the backend for more. See ``sinks.py`` for why a reader never sees half an object.

Every error leaves as a :mod:`~kuberun_operator.logstore.errors` type whose message names the action,
the key and the store's URL, with credentials scrubbed and the backend's exception not chained.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import fsspec

from kuberun_operator.logstore import errors, paths, sinks
from kuberun_operator.logstore.options import Credentials, StoreOptions

T = TypeVar("T")
TAIL_SCAN_BLOCK = 64 << 10
TAIL_SCAN_LIMIT = 8 << 20  # tail_lines never reads back further than this


@dataclass(frozen=True)
class Location:
    """Where an object was committed: what the attempt's record keeps."""

    url: str
    size: int
    sha256: str
    truncated: bool = False  # the producer went past max_log_bytes; the rest was dropped


class LogStore:
    """One store root. Build it with :meth:`from_url`; all I/O methods are coroutines."""

    def __init__(self, fs: Any, protocol: str, root: str, options: StoreOptions, credentials: Credentials) -> None:
        self._fs = fs
        self.protocol = protocol
        self._root = root.rstrip("/")
        self.options = options
        self._credentials = credentials
        self.url = f"s3://{self._root}" if protocol == "s3" else f"file://{self._root}"
        # The periodic and the final sync of one attempt may overlap; each prefix syncs one at a time
        # so the later manifest is written last. Entries go when their sync ends, so this stays small.
        self._sync_locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_url(cls, url: str, options: StoreOptions | None = None) -> LogStore:
        """``/path``, ``file:///path`` or ``s3://bucket[/prefix]``; credentials from ``options`` only."""
        options = options or StoreOptions()
        if not isinstance(url, str) or not url.strip():
            raise errors.LogStoreConfigError("log store URL is empty")
        parsed = urllib.parse.urlsplit(url)
        scheme = parsed.scheme or "file"
        if "@" in parsed.netloc:
            raise errors.LogStoreConfigError(
                "log store URL: credentials in the URL are refused; put them in the log store Secret"
            )
        if parsed.query or parsed.fragment:
            raise errors.LogStoreConfigError("log store URL: query strings and fragments are not supported")
        if scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise errors.LogStoreConfigError(f"log store URL {url!r}: file URLs name no host (file:///path)")
            root = str(Path(urllib.parse.unquote(parsed.path) if parsed.scheme else url).expanduser().absolute())
            fs = fsspec.filesystem("file", auto_mkdir=True)
            return cls(fs, "file", root, options, Credentials({}, "none"))
        if scheme == "s3":
            bucket = parsed.netloc
            if not bucket:
                raise errors.LogStoreConfigError(f"log store URL {url!r}: no bucket (s3://bucket/prefix)")
            prefix = parsed.path.strip("/")
            if prefix:
                paths.parts(prefix, "log store URL prefix")
            credentials = Credentials.load(options)
            try:
                fs = fsspec.filesystem(
                    "s3",
                    skip_instance_cache=True,  # an instance per store: no credentials shared by accident
                    use_listings_cache=False,  # other writers change the bucket; never trust a stale listing
                    config_kwargs={
                        "connect_timeout": options.connect_timeout,
                        "read_timeout": options.read_timeout,
                        "retries": {"max_attempts": options.max_attempts, "mode": "standard"},
                    },
                    **credentials.s3_options(),
                )
            except ImportError:
                raise errors.LogStoreConfigError(
                    "s3:// log stores need s3fs: install kuberun[logstore]"
                ) from None
            return cls(fs, "s3", f"{bucket}/{prefix}" if prefix else bucket, options, credentials)
        raise errors.LogStoreConfigError(
            f"log store URL scheme {scheme!r} is not supported: use a directory, file:///path or s3://bucket/prefix"
        )

    def __repr__(self) -> str:
        return f"LogStore({self.url!r}, credentials={self._credentials!r})"

    def url_for(self, key: str) -> str:
        return f"{self.url}/{'/'.join(paths.parts(key))}"

    def _path(self, key: str) -> str:
        return f"{self._root}/{'/'.join(paths.parts(key))}"

    # --- calling the backend ------------------------------------------------------------------

    def _error(self, exc: BaseException, action: str, key: str) -> errors.LogStoreError:
        if isinstance(exc, errors.LogStoreError):
            return exc
        if isinstance(exc, FileNotFoundError):
            return errors.LogNotFoundError(f"{action} {key!r}: not found in {self.url}")
        detail = self._credentials.scrub(f"{type(exc).__name__}: {exc}")[:1000]
        return errors.LogStoreError(f"{action} {key!r} in {self.url}: {detail}")

    async def _call(self, action: str, key: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except Exception as exc:
            raise self._error(exc, action, key) from None

    async def _size(self, key: str) -> int:
        info = await self._call("stat", key, self._fs.info, self._path(key))
        if info.get("type") != "file":
            raise errors.LogNotFoundError(f"stat {key!r}: not found in {self.url}")
        return int(info["size"])

    # --- the public face ----------------------------------------------------------------------

    async def check(self) -> None:
        """Fail early (at operator start) if the root cannot be reached, with an actionable message."""
        if self.protocol == "file":
            await self._call("create", "", self._fs.makedirs, self._root, exist_ok=True)
            return
        bucket = self._root.split("/", 1)[0]
        try:
            await self._call("check bucket", bucket, self._fs.call_s3, "head_bucket", Bucket=bucket)
        except errors.LogNotFoundError:
            raise errors.LogStoreConfigError(f"log store {self.url}: bucket {bucket!r} does not exist") from None

    async def exists(self, key: str) -> bool:
        """Whether a committed object is under ``key`` (a half-written one never counts)."""
        try:
            await self._size(key)
        except errors.LogNotFoundError:
            return False
        return True

    async def size(self, key: str) -> int:
        return await self._size(key)

    async def put_log(self, key: str, chunks: AsyncIterator[bytes]) -> Location:
        """Stream ``chunks`` to ``key``; visible only once complete. Past ``max_log_bytes`` the log is cut
        and a last line says so (``Location.truncated``). Uploading the same bytes again is harmless:
        same object, same Location."""
        return await self.put_stream(key, chunks, limit=self.options.max_log_bytes)

    async def put_bytes(self, key: str, data: bytes) -> Location:
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.put_stream(key, one())

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], limit: int | None = None,
                         expect: tuple[int, str] | None = None) -> Location:
        """Stream ``chunks`` to ``key``. ``expect`` (size, sha256): commit only bytes that match it, else
        discard them and raise :class:`IntegrityError` (content-addressed objects: code packages)."""
        path = self._path(key)
        chunk_size = self.options.chunk_size
        sink = await self._call(
            "upload", key, sinks.open_sink, self._fs, self.protocol, path, self.options.part_size
        )
        digest, size, truncated, pending = hashlib.sha256(), 0, False, bytearray()
        try:
            async for chunk in chunks:
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise TypeError(f"upload {key!r}: chunks must be bytes, not {type(chunk).__name__}")
                if limit is not None and size + len(chunk) > limit:
                    chunk = bytes(chunk[: limit - size]) + f"\nkuberun: log truncated at {limit} bytes\n".encode()
                    truncated = True
                digest.update(chunk)
                size += len(chunk)
                if expect is not None and size > expect[0]:
                    raise errors.IntegrityError(f"upload {key!r}: more than the expected {expect[0]} bytes; nothing was stored")
                pending += chunk
                if len(pending) >= chunk_size:
                    data, pending = pending, bytearray()  # hand the buffer over: no copy
                    await self._call("upload", key, sink.write, data)
                    del data
                if truncated:
                    break
            if pending:
                await self._call("upload", key, sink.write, pending)
            if expect is not None and (size, digest.hexdigest()) != expect:
                raise errors.IntegrityError(f"upload {key!r}: got {size} bytes with sha256 {digest.hexdigest()}, "
                                            f"expected {expect[0]} bytes with sha256 {expect[1]}; nothing was stored")
            await self._call("commit", key, sink.commit)
        except BaseException:
            # Cancelled or failed: abort the multipart upload / remove the partial file, never publish.
            await asyncio.shield(asyncio.to_thread(_quietly, sink.discard))
            raise
        finally:
            if truncated and hasattr(chunks, "aclose"):
                await chunks.aclose()
        return Location(self.url_for(key), size, digest.hexdigest(), truncated)

    async def open_log(
        self,
        key: str,
        *,
        offset: int = 0,
        length: int | None = None,
        tail_bytes: int | None = None,
        tail_lines: int | None = None,
    ) -> AsyncIterator[bytes]:
        """The committed object under ``key`` as an async iterator of chunks (at most ``chunk_size``).

        Raises :class:`LogNotFoundError` now, not on first iteration. ``offset``/``length`` select a
        byte range; ``tail_bytes`` the last N bytes; ``tail_lines`` the last N lines (looking back at
        most 8 MiB). The file is opened on first iteration and closed when iteration ends or stops.
        """
        for name, value in (("offset", offset), ("length", length), ("tail_bytes", tail_bytes), ("tail_lines", tail_lines)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"open_log {key!r}: {name} must be an integer >= 0")
        size = await self._size(key)
        start, end = min(offset, size), size
        if length is not None:
            end = min(size, start + length)
        if tail_bytes is not None:
            start = max(start, size - tail_bytes)
        if tail_lines is not None:
            start = max(start, await self._call("tail", key, self._tail_start, self._path(key), size, tail_lines))
        return self._read(key, start, end)

    def _tail_start(self, path: str, size: int, lines: int) -> int:
        if lines == 0:
            return size
        end, seen = size, 0
        # A final newline ends the last line; it does not start a new one.
        if size and self._fs.cat_file(path, start=size - 1, end=size) == b"\n":
            end -= 1
        cursor = end
        while cursor > 0 and size - cursor < TAIL_SCAN_LIMIT:
            low = max(0, cursor - TAIL_SCAN_BLOCK)
            block = self._fs.cat_file(path, start=low, end=cursor)
            index = len(block)
            while True:
                index = block.rfind(b"\n", 0, index)
                if index < 0:
                    break
                seen += 1
                if seen == lines:
                    return low + index + 1
            cursor = low
        return cursor

    async def _read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        chunk_size = self.options.chunk_size
        handle = None
        try:
            # cache_type "none": each read is one ranged GET of exactly what was asked, nothing buffered.
            handle = await self._call("read", key, self._fs.open, self._path(key), "rb", block_size=chunk_size, cache_type="none")
            await self._call("read", key, handle.seek, start)
            position = start
            while position < end:
                data = await self._call("read", key, handle.read, min(chunk_size, end - position))
                if not data:
                    break
                position += len(data)
                yield data
        finally:
            if handle is not None:
                await asyncio.shield(asyncio.to_thread(_quietly, handle.close))

    async def delete(self, key: str) -> None:
        """Remove one object (the archive's retention uses it); a missing key is not an error."""
        if await self.exists(key):
            await self._call("delete", key, self._fs.rm_file, self._path(key))

    # --- artifacts: the logic is in artifacts.py, which takes the store; the store only serialises syncs ----

    @contextlib.asynccontextmanager
    async def sync_lock(self, prefix: str) -> AsyncIterator[None]:
        """Held while one artifact sync of ``prefix`` runs, so a periodic and a final sync never interleave."""
        lock = self._sync_locks.setdefault(prefix, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._sync_locks.get(prefix) is lock:
                del self._sync_locks[prefix]


def _quietly(fn: Callable[[], object]) -> None:
    # Cleanup after a failure that is already being raised: the original error is the one that matters.
    with contextlib.suppress(Exception):
        fn()
