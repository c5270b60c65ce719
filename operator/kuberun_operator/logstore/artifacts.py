"""Artifacts: a task's output directory mirrored, incrementally and within bounds, into the store.

``sync_dir`` runs when an attempt ends and periodically while it runs (so a checkpoint survives a lost
node). It is incremental against the previous manifest: a file whose size and mtime are unchanged is
not read at all; one whose bytes hash the same is not uploaded again. Files already synced stay in the
manifest (and the store) when the task later deletes them: the record only grows, within the bounds.

Bounds (``max_files``, ``max_bytes``) apply to the whole manifest. A file past them is *reported* in
``Manifest.skipped`` with a reason, as are names that are unsafe, symlinks that leave the directory and
things that are not regular files; the list of reasons is bounded too (``skipped_total`` counts all).

``fetch`` (``kuberun artifacts --download``) is the mirror image and trusts no manifest: every path is
checked before anything is written, each file is verified against its size and sha256 while it is
downloaded and renamed into place only when it matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from kuberun_operator.logstore import errors, localfs, paths

if TYPE_CHECKING:
    from kuberun_operator.logstore.store import LogStore

MAX_SKIPPED_LISTED = 200


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a newer operator's manifest still reads

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    mtime_ns: int = 0


class Skipped(BaseModel):
    model_config = ConfigDict(extra="ignore")

    path: str
    reason: str  # max-files, max-bytes, unsafe-name, symlink-outside, not-a-regular-file, vanished, changed
    size: int | None = None


class Manifest(BaseModel):
    """What is stored under a prefix. ``uploaded`` lists what the sync that produced it uploaded."""

    model_config = ConfigDict(extra="ignore")

    entries: list[ManifestEntry] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    skipped_total: int = 0
    uploaded: list[str] = Field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.entries)

    def by_path(self) -> dict[str, ManifestEntry]:
        return {entry.path: entry for entry in self.entries}


async def _file_chunks(fd: int, chunk_size: int) -> AsyncIterator[bytes]:
    while True:
        data = await asyncio.to_thread(os.read, fd, chunk_size)
        if not data:
            return
        yield data


async def _hash(root: Path, source: str, chunk_size: int) -> str:
    fd = await asyncio.to_thread(localfs.open_beneath, root, source)
    try:
        digest = hashlib.sha256()
        async for data in _file_chunks(fd, chunk_size):
            digest.update(data)
        return digest.hexdigest()
    finally:
        os.close(fd)


async def sync_dir(
    store: LogStore,
    local_dir: Path | str,
    prefix: str,
    previous: Manifest | None = None,
    *,
    max_files: int | None = None,
    max_bytes: int | None = None,
) -> Manifest:
    """Upload what changed under ``local_dir`` to ``prefix`` (one sync of a prefix at a time)."""
    async with store.sync_lock(prefix):
        return await _sync_dir(store, Path(local_dir), prefix, previous, max_files=max_files, max_bytes=max_bytes)


async def _sync_dir(
    store: LogStore,
    local_dir: Path,
    prefix: str,
    previous: Manifest | None = None,
    *,
    max_files: int | None = None,
    max_bytes: int | None = None,
) -> Manifest:
    paths.parts(prefix, "prefix")
    max_files = store.options.max_artifact_files if max_files is None else max_files
    max_bytes = store.options.max_artifact_bytes if max_bytes is None else max_bytes
    chunk_size = store.options.chunk_size
    root = Path(os.path.realpath(local_dir))
    if not root.is_dir():
        raise errors.LogStoreError(f"sync {prefix!r}: {local_dir} is not a directory")
    found, refused = await asyncio.to_thread(localfs.scan, root)
    before = previous.by_path() if previous else {}
    local_paths = {item.path for item in found}
    # Already-stored files the task has since removed stay: they are in the store and the record.
    entries: dict[str, ManifestEntry] = {p: e for p, e in before.items() if p not in local_paths}
    skipped = [Skipped(path=r.path, reason=r.reason) for r in refused]
    uploaded: list[str] = []
    total = sum(e.size for e in entries.values())
    for item in found:
        old = before.get(item.path)
        if old is not None and old.size == item.size and old.mtime_ns == item.mtime_ns:
            entries[item.path] = old
            total += old.size
            continue
        if len(entries) >= max_files:
            skipped.append(Skipped(path=item.path, reason="max-files", size=item.size))
            continue
        if total + item.size > max_bytes:
            skipped.append(Skipped(path=item.path, reason="max-bytes", size=item.size))
            continue
        key = paths.join(prefix, item.path, "artifact")
        try:
            if old is not None and old.size == item.size and await _hash(root, item.source, chunk_size) == old.sha256:
                entry = ManifestEntry(path=item.path, size=old.size, sha256=old.sha256, mtime_ns=item.mtime_ns)
            else:
                fd = await asyncio.to_thread(localfs.open_beneath, root, item.source)
                try:
                    location = await store.put_stream(key, _file_chunks(fd, chunk_size))
                finally:
                    os.close(fd)
                entry = ManifestEntry(path=item.path, size=location.size, sha256=location.sha256, mtime_ns=item.mtime_ns)
                uploaded.append(item.path)
        except (errors.UnsafePathError, OSError):
            # Swapped for a symlink, a FIFO or removed since the scan: report, and keep the old copy.
            skipped.append(Skipped(path=item.path, reason="changed", size=item.size))
            if old is not None:
                entries[item.path] = old
                total += old.size
            continue
        entries[item.path] = entry
        total += entry.size
    manifest = Manifest(
        entries=sorted(entries.values(), key=lambda e: e.path),
        skipped=skipped[:MAX_SKIPPED_LISTED],
        skipped_total=len(skipped),
        uploaded=uploaded,
    )
    await store.put_bytes(paths.manifest_key(prefix), manifest.model_dump_json().encode())
    return manifest


async def read_manifest(store: LogStore, prefix: str) -> Manifest:
    """The manifest ``sync_dir`` left beside ``prefix`` (bounded: at most 64 MiB is read)."""
    key = paths.manifest_key(prefix)
    if await store.size(key) > 64 << 20:
        raise errors.LogStoreError(f"manifest {key!r} is larger than 64 MiB; refusing to read it")
    data = b"".join([chunk async for chunk in await store.open_log(key)])
    try:
        return Manifest.model_validate_json(data)
    except ValueError as exc:
        raise errors.LogStoreError(f"manifest {key!r}: not a valid manifest ({exc.errors()[0]['msg']})") from None


async def fetch(store: LogStore, prefix: str, dest_dir: Path | str, manifest: Manifest | None = None) -> list[Path]:
    """Download every manifest entry under ``prefix`` into ``dest_dir``; returns the files written."""
    dest_dir = Path(dest_dir)
    paths.parts(prefix, "prefix")
    if manifest is None:
        manifest = await read_manifest(store, prefix)
    # Refuse the whole manifest before writing anything if any path could leave dest_dir.
    seen: set[str] = set()
    for entry in manifest.entries:
        paths.parts(entry.path, "manifest path")
        if entry.path in seen:
            raise errors.UnsafePathError(f"manifest path {entry.path!r}: listed twice")
        seen.add(entry.path)
    written: list[Path] = []
    for entry in manifest.entries:
        chunks = await store.open_log(paths.join(prefix, entry.path, "artifact"))
        writer = await asyncio.to_thread(localfs.BeneathWriter, dest_dir, entry.path)
        try:
            digest, size = hashlib.sha256(), 0
            async with contextlib.aclosing(chunks):
                async for data in chunks:
                    size += len(data)
                    if size > entry.size:
                        break
                    digest.update(data)
                    await asyncio.to_thread(writer.write, data)
            if size != entry.size or digest.hexdigest() != entry.sha256:
                raise errors.IntegrityError(
                    f"download {entry.path!r}: stored bytes do not match the manifest (size or sha256); not written"
                )
            await asyncio.to_thread(writer.commit)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(writer.discard))
            raise
        written.append(dest_dir / entry.path)
    return written
