"""Artifacts: an attempt's output directory synced to the log store, and the sync recorded on the attempt.

The controller calls :meth:`ArtifactSync.apply` with each round's new status just before writing it
(one line of hook). ``apply`` never blocks the worker: it copies finished syncs' records onto their
attempts, and starts background syncs — the final one when an attempt has ended, a periodic one every
``period`` seconds while it runs (so a checkpoint survives a lost node) — each of which, when done,
puts the Experiment back on the queue so its record is written. Syncs are incremental
(``logstore.artifacts.sync_dir`` against the previous manifest) and bounded by the store's options.
Once an attempt has ended, its metric series (``metrics.jsonl``, beside the log) is copied to
``<attempt prefix>/metrics.jsonl`` in the store, where the archive reads the full series, and the
copy is recorded on the attempt (``series``); an ended attempt without that record — the operator
died between the end and the copy — is copied again by the next operator. A record
with ``complete: true`` came from the sync after the attempt ended; before that it may be
partial. A failed sync is logged and tried again, at most ``MAX_FAILURES`` times per attempt.

Where the files are reachable: the local backend's attempt directory (``<local_workdir>/<key>/
artifacts``) is read in place, periodically and at the end; a backend that declares
``ArtifactSource`` (Slurm: one ``tar`` over the SSH connection it already holds) is copied once,
when the attempt has ended, bounded and unpacked with tarfile's ``data`` filter. A Kubernetes pod's
emptyDir is inside the pod and not reachable: its runner uploads the files to the record server
itself (``server/uploads.py``), which keeps the manifest; here that manifest is read (periodically
and when the attempt ends) and recorded. See docs/results.md for what works where.
"""

from __future__ import annotations

import asyncio
import logging
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from kuberun.resource import AttemptStatus, ExperimentResource, ExperimentStatus, results
from kuberun.resource.results import MAX_ARTIFACTS_LISTED, ArtifactFile, ArtifactsRecord, SeriesRecord
from kuberun.resource.times import utcnow
from kuberun_operator import identity
from kuberun_operator.backends.base import BackendError
from kuberun_operator.logstore import LogNotFoundError, LogStore, LogStoreError, Manifest, StoreOptions, paths
from kuberun_operator.logstore.artifacts import read_manifest, sync_dir
from kuberun_operator.settings import Settings

log = logging.getLogger("kuberun.operator")

AttemptKey = tuple[str, str, int]  # experiment uid, task, attempt
Locate = Callable[[ExperimentResource, str, AttemptStatus], "Path | None"]
MAX_FAILURES = 3
MAX_TRACKED = 10_000  # attempts remembered at once; past it the oldest are forgotten (a restart's worth of work)


MAX_SERIES_BYTES = 64 << 20  # as the runner's own bound on what it writes
TAR_OVERHEAD = 64 << 20  # headers and padding on top of the store's artifact byte bound


@runtime_checkable
class ArtifactSource(Protocol):
    """A backend whose attempt directories are elsewhere: it streams one's ``artifacts/`` as a tar (empty: none).

    Handed the Experiment, the task and the attempt number (as ``LogSource`` is): the backend finds
    the attempt's directory itself, never from a path in status."""

    def artifacts_stream(self, exp: ExperimentResource, task: str, attempt: int) -> AsyncIterator[bytes]: ...

    def series_stream(self, exp: ExperimentResource, task: str, attempt: int) -> AsyncIterator[bytes]: ...


async def _file_chunks(path: Path, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
    try:
        handle = await asyncio.to_thread(open, path, "rb")
    except OSError:
        return
    try:
        while data := await asyncio.to_thread(handle.read, chunk):
            yield data
    finally:
        handle.close()


def _unpack(archive: Path, dest: Path) -> int:
    """Unpack member by member with tarfile's ``data`` filter (no absolute paths, no ``..``, no links
    out, no devices); returns how many members it refused — one hostile name costs only itself."""
    dest.mkdir()
    refused = 0
    with tarfile.open(archive) as tar:
        for member in tar:
            try:
                tar.extract(member, dest, filter="data")
            except tarfile.FilterError:
                refused += 1
    return refused


def _uploads_itself(attempt: AttemptStatus) -> bool:
    """A Kubernetes pod's runner uploads to the record server; its manifest appears in the store."""
    return attempt.backend_ref is not None and attempt.backend_ref.backend == "kubernetes"


def local_dirs(workdir: Path) -> Locate:
    """The local backend's attempt directories: ``<workdir>/<idempotency key>/artifacts``."""
    def locate(exp: ExperimentResource, task: str, attempt: AttemptStatus) -> Path | None:
        ref = attempt.backend_ref
        if ref is None or ref.backend != "local":
            return None
        # The key recomputed from the UID: one in status could be rewritten to reach another directory.
        return workdir / identity.idempotency_key(exp.metadata.uid or "", task, attempt.attempt) / "artifacts"
    return locate


def from_settings(settings: Settings, enqueue: Callable[[tuple[str, str]], None],
                  backends: Mapping[str, object] | None = None) -> ArtifactSync:
    """The sync for ``settings.log_store_url`` (credentials: the log store's own options, never a CR)."""
    store = LogStore.from_url(settings.log_store_url or "", StoreOptions(secret_dir=settings.log_store_secret_dir))
    return ArtifactSync(store, local_dirs(settings.local_workdir), enqueue, period=settings.artifact_sync_seconds,
                        backends=backends)


class ArtifactSync:
    def __init__(self, store: LogStore, locate: Locate, enqueue: Callable[[tuple[str, str]], None], *,
                 period: float = 60.0, monotonic: Callable[[], float] = time.monotonic,
                 backends: Mapping[str, object] | None = None) -> None:
        self.store, self.locate, self.enqueue, self.period, self.monotonic = store, locate, enqueue, period, monotonic
        self.backends = dict(backends or {})
        self._records: dict[AttemptKey, ArtifactsRecord] = {}
        self._manifests: dict[AttemptKey, Manifest] = {}
        self._last: dict[AttemptKey, float] = {}
        self._failures: dict[AttemptKey, int] = {}
        self._done: dict[AttemptKey, None] = {}       # finished and recorded (or nothing to record)
        self._running: dict[AttemptKey, asyncio.Task[None]] = {}
        self._series: dict[AttemptKey, asyncio.Future[None]] = {}  # series copies under way
        self._series_records: dict[AttemptKey, SeriesRecord] = {}  # copied, not yet in a written status
        self._series_tried: dict[AttemptKey, int] = {}             # copies started (bounded, as _done)

    def apply(self, exp: ExperimentResource, status: ExperimentStatus) -> None:
        """Put finished syncs' records on ``status``'s attempts; start the syncs that are due."""
        uid = exp.metadata.uid or ""
        key = (exp.metadata.namespace or "", exp.metadata.name or "")
        old = {(t.name, a.attempt): a for t in (exp.status.tasks if exp.status else []) for a in t.attempts}
        for task in status.tasks:
            for attempt in task.attempts:
                k = (uid, task.name, attempt.attempt)
                was = old.get((task.name, attempt.attempt))
                if attempt.phase.finished:
                    self._series_due(exp, k, task.name, attempt)
                if k in self._done:
                    continue
                before = was.artifacts if was is not None else None
                if attempt.phase.finished and before is not None and before.complete:
                    self._finish(k)  # recorded by this operator earlier (or before a restart)
                    continue
                record = self._records.get(k)
                if record is not None:
                    attempt.artifacts = record
                    if record.complete and before == record:
                        self._finish(k)
                        continue
                if k in self._running or self._failures.get(k, 0) >= MAX_FAILURES:
                    continue
                final = attempt.phase.finished
                if final and record is not None and record.complete:
                    continue  # written next round
                if not final and self.monotonic() - self._last.get(k, -self.period) < self.period:
                    continue
                prefix = paths.artifacts_prefix(key[0], key[1], uid, task.name, attempt.attempt)
                where = self.locate(exp, task.name, attempt)
                remote = self._remote(attempt)
                if where is None and remote is None and _uploads_itself(attempt):
                    self._last[k] = self.monotonic()
                    self._running[k] = asyncio.ensure_future(self._record_uploaded(k, key, prefix, final))
                    continue
                if (where is None and remote is None) or (where is not None and not where.is_dir()):
                    if final:
                        self._finish(k)  # not reachable from here, or the task wrote no artifacts
                    continue
                if where is None and not final:
                    continue  # a remote directory is copied once, when the attempt has ended
                self._last[k] = self.monotonic()
                job = self._sync(k, key, where, prefix, final) if where is not None else \
                    self._sync_remote(k, key, remote, exp, attempt, prefix)  # type: ignore[arg-type]
                self._running[k] = asyncio.ensure_future(job)

    def _series_due(self, exp: ExperimentResource, k: AttemptKey, task: str, attempt: AttemptStatus) -> None:
        """An ended attempt: record a finished copy of its series, or start one if none is recorded."""
        if attempt.series is not None:
            self._series_records.pop(k, None)  # in the record now
            return
        record = self._series_records.get(k)
        if record is not None:
            attempt.series = record
            return
        tried = self._series_tried.get(k, 0)
        if tried >= MAX_FAILURES or k in self._series:
            return
        self._series_tried[k] = tried + 1
        while len(self._series_tried) > MAX_TRACKED:
            self._series_tried.pop(next(iter(self._series_tried)))
        self._copy_series(exp, k, task, attempt)

    def _copy_series(self, exp: ExperimentResource, k: AttemptKey, task: str, attempt: AttemptStatus) -> None:
        """Copy the attempt's ``metrics.jsonl`` (the full series) to ``<attempt prefix>/metrics.jsonl``."""
        meta = exp.metadata
        key = paths.join(paths.attempt_prefix(meta.namespace or "", meta.name or "", k[0], task, attempt.attempt),
                         results.METRICS_FILE)
        where = self.locate(exp, task, attempt)
        remote = self._remote(attempt)
        if where is not None:
            chunks: AsyncIterator[bytes] | None = _file_chunks(where.parent / results.METRICS_FILE)
        elif remote is not None:
            chunks = remote.series_stream(exp, task, attempt.attempt)
        else:
            self._series_tried[k] = MAX_FAILURES  # not reachable from here: nothing to retry
            return
        job = asyncio.ensure_future(self._put_series(k, (meta.namespace or "", meta.name or ""), key, chunks))
        self._series[k] = job
        job.add_done_callback(lambda _: self._series.pop(k, None))

    async def _put_series(self, k: AttemptKey, exp_key: tuple[str, str], key: str, chunks: AsyncIterator[bytes]) -> None:
        try:
            first = await anext(aiter(chunks), b"")
            if not first:  # nothing reported: nothing stored; recorded with the next status write
                self._keep_series_record(k, SeriesRecord())
                return

            async def again() -> AsyncIterator[bytes]:
                yield first
                async for chunk in chunks:
                    yield chunk
            location = await self.store.put_stream(key, again(), limit=MAX_SERIES_BYTES)
        except (BackendError, LogStoreError, OSError) as exc:
            log.warning("metric series %s: copy failed (%d of %d): %s", key, self._series_tried.get(k, 0), MAX_FAILURES, exc)
            return
        self._keep_series_record(k, SeriesRecord(location=location.url, size=location.size, truncated=location.truncated))
        self.enqueue(exp_key)

    def _keep_series_record(self, k: AttemptKey, record: SeriesRecord) -> None:
        self._series_records[k] = record
        while len(self._series_records) > MAX_TRACKED:  # a record never written is copied again after a restart
            self._series_records.pop(next(iter(self._series_records)))

    def _remote(self, attempt: AttemptStatus) -> ArtifactSource | None:
        ref = attempt.backend_ref
        backend = self.backends.get(ref.backend) if ref is not None else None
        return backend if isinstance(backend, ArtifactSource) and attempt.log_ref is not None else None

    async def _sync_remote(self, k: AttemptKey, key: tuple[str, str], source: ArtifactSource, exp: ExperimentResource,
                           attempt: AttemptStatus, prefix: str) -> None:
        """Copy a remote attempt directory as one tar stream (bounded), unpack it safely, then sync as usual."""
        limit = self.store.options.max_artifact_bytes + TAR_OVERHEAD
        with tempfile.TemporaryDirectory(prefix="kuberun-artifacts-") as tmp:
            archive, files = Path(tmp) / "artifacts.tar", Path(tmp) / "files"
            try:
                size = 0
                with open(archive, "wb") as out:
                    async for chunk in source.artifacts_stream(exp, k[1], attempt.attempt):
                        size += len(chunk)
                        if size > limit:
                            raise LogStoreError(f"artifacts are larger than {limit} bytes; not copied")
                        await asyncio.to_thread(out.write, chunk)
                if size == 0:
                    self._running.pop(k, None)
                    self._finish(k)  # no artifacts directory there
                    return
                refused = await asyncio.to_thread(_unpack, archive, files)
            except (BackendError, LogStoreError, OSError, tarfile.TarError) as exc:
                self._running.pop(k, None)
                self._failures[k] = self._failures.get(k, 0) + 1
                log.warning("artifacts of %s/%s task %s attempt %d: copy failed (%d of %d): %s",
                            *key, k[1], k[2], self._failures[k], MAX_FAILURES, exc)
                return
            await self._sync(k, key, files, prefix, True, refused)

    def _finish(self, k: AttemptKey) -> None:
        for table in (self._records, self._manifests, self._last, self._failures):
            table.pop(k, None)  # type: ignore[attr-defined]
        self._done[k] = None
        while len(self._done) > MAX_TRACKED:
            self._done.pop(next(iter(self._done)))

    async def _sync(self, k: AttemptKey, key: tuple[str, str], where: Path, prefix: str, final: bool,
                    refused: int = 0) -> None:
        try:
            manifest = await sync_dir(self.store, where, prefix, self._manifests.get(k))
        except (LogStoreError, OSError) as exc:
            self._failures[k] = self._failures.get(k, 0) + 1
            log.warning("artifacts of %s/%s task %s attempt %d: sync failed (%d of %d): %s",
                        *key, k[1], k[2], self._failures[k], MAX_FAILURES, exc)
            return
        finally:
            self._running.pop(k, None)
        self._recorded(k, key, prefix, manifest, final, refused)

    async def _record_uploaded(self, k: AttemptKey, key: tuple[str, str], prefix: str, final: bool) -> None:
        """A pod's runner uploads its own artifacts (``kuberun_operator.server.uploads``): record its manifest."""
        try:
            manifest = await read_manifest(self.store, prefix)
        except LogNotFoundError:
            self._running.pop(k, None)
            if final:
                self._finish(k)  # the task wrote no artifacts (or could not upload any: its log says why)
            return
        except LogStoreError as exc:
            self._running.pop(k, None)
            self._failures[k] = self._failures.get(k, 0) + 1
            log.warning("artifacts of %s/%s task %s attempt %d: the uploaded manifest cannot be read (%d of %d): %s",
                        *key, k[1], k[2], self._failures[k], MAX_FAILURES, exc)
            return
        self._running.pop(k, None)
        self._recorded(k, key, prefix, manifest, final)

    def _recorded(self, k: AttemptKey, key: tuple[str, str], prefix: str, manifest: Manifest, final: bool,
                  refused: int = 0) -> None:
        self._manifests[k] = manifest
        self._records[k] = ArtifactsRecord(
            location=self.store.url_for(prefix), count=len(manifest.entries), total_bytes=manifest.total_bytes,
            files=[ArtifactFile(path=e.path, size=e.size, sha256=e.sha256) for e in manifest.entries[:MAX_ARTIFACTS_LISTED]],
            skipped=manifest.skipped_total + refused, synced_time=utcnow(), complete=final)
        self.enqueue(key)

    async def stop(self) -> None:
        running = [*self._running.values(), *self._series.values()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
