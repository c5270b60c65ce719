"""Artifacts: an attempt's output directory synced to the log store, and the sync recorded on the attempt.

The controller calls :meth:`ArtifactSync.apply` with each round's new status just before writing it
(one line of hook). ``apply`` never blocks the worker: it copies finished syncs' records onto their
attempts, and starts background syncs — the final one when an attempt has ended, a periodic one every
``period`` seconds while it runs (so a checkpoint survives a lost node) — each of which, when done,
puts the Experiment back on the queue so its record is written. Syncs are incremental
(``logstore.artifacts.sync_dir`` against the previous manifest) and bounded by the store's options.
A record with ``complete: true`` came from the sync after the attempt ended; before that it may be
partial. A failed sync is logged and tried again, at most ``MAX_FAILURES`` times per attempt.

Where the files are reachable: only where the operator can read the attempt's directory — the
local backend (``<local_workdir>/<key>/artifacts``). Slurm's attempt directory is on the cluster
(reachable over SSH, not synced yet) and a Kubernetes pod's emptyDir is inside the pod; see
docs/results.md for what works where and the route planned for pods.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from kuberun.resource import AttemptStatus, ExperimentResource, ExperimentStatus
from kuberun.resource.results import MAX_ARTIFACTS_LISTED, ArtifactFile, ArtifactsRecord
from kuberun.resource.times import utcnow
from kuberun_operator.logstore import LogStore, LogStoreError, Manifest, paths
from kuberun_operator.logstore.artifacts import sync_dir
from kuberun_operator.settings import Settings

log = logging.getLogger("kuberun.operator")

AttemptKey = tuple[str, str, int]  # experiment uid, task, attempt
Locate = Callable[[ExperimentResource, str, AttemptStatus], "Path | None"]
MAX_FAILURES = 3
MAX_TRACKED = 10_000  # attempts remembered at once; past it the oldest are forgotten (a restart's worth of work)


def local_dirs(workdir: Path) -> Locate:
    """The local backend's attempt directories: ``<workdir>/<idempotency key>/artifacts``."""
    def locate(exp: ExperimentResource, task: str, attempt: AttemptStatus) -> Path | None:
        ref = attempt.backend_ref
        if ref is None or ref.backend != "local":
            return None
        return workdir / ref.idempotency_key / "artifacts"
    return locate


def from_settings(settings: Settings, enqueue: Callable[[tuple[str, str]], None]) -> ArtifactSync:
    """The sync for ``settings.log_store_url`` (credentials: the log store's own options, never a CR)."""
    store = LogStore.from_url(settings.log_store_url or "")
    return ArtifactSync(store, local_dirs(settings.local_workdir), enqueue, period=settings.artifact_sync_seconds)


class ArtifactSync:
    def __init__(self, store: LogStore, locate: Locate, enqueue: Callable[[tuple[str, str]], None], *,
                 period: float = 60.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store, self.locate, self.enqueue, self.period, self.monotonic = store, locate, enqueue, period, monotonic
        self._records: dict[AttemptKey, ArtifactsRecord] = {}
        self._manifests: dict[AttemptKey, Manifest] = {}
        self._last: dict[AttemptKey, float] = {}
        self._failures: dict[AttemptKey, int] = {}
        self._done: dict[AttemptKey, None] = {}       # finished and recorded (or nothing to record)
        self._running: dict[AttemptKey, asyncio.Task[None]] = {}

    def apply(self, exp: ExperimentResource, status: ExperimentStatus) -> None:
        """Put finished syncs' records on ``status``'s attempts; start the syncs that are due."""
        uid = exp.metadata.uid or ""
        key = (exp.metadata.namespace or "", exp.metadata.name or "")
        stored = {(t.name, a.attempt): a.artifacts for t in (exp.status.tasks if exp.status else []) for a in t.attempts}
        for task in status.tasks:
            for attempt in task.attempts:
                k = (uid, task.name, attempt.attempt)
                if k in self._done:
                    continue
                before = stored.get((task.name, attempt.attempt))
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
                where = self.locate(exp, task.name, attempt)
                if where is None:
                    if final:
                        self._finish(k)
                    continue
                if not where.is_dir():
                    if final:
                        self._finish(k)  # the task wrote no artifacts
                    continue
                prefix = paths.artifacts_prefix(key[0], key[1], uid, task.name, attempt.attempt)
                self._last[k] = self.monotonic()
                self._running[k] = asyncio.ensure_future(self._sync(k, key, where, prefix, final))

    def _finish(self, k: AttemptKey) -> None:
        for table in (self._records, self._manifests, self._last, self._failures):
            table.pop(k, None)  # type: ignore[attr-defined]
        self._done[k] = None
        while len(self._done) > MAX_TRACKED:
            self._done.pop(next(iter(self._done)))

    async def _sync(self, k: AttemptKey, key: tuple[str, str], where: Path, prefix: str, final: bool) -> None:
        try:
            manifest = await sync_dir(self.store, where, prefix, self._manifests.get(k))
        except (LogStoreError, OSError) as exc:
            self._failures[k] = self._failures.get(k, 0) + 1
            log.warning("artifacts of %s/%s task %s attempt %d: sync failed (%d of %d): %s",
                        *key, k[1], k[2], self._failures[k], MAX_FAILURES, exc)
            return
        finally:
            self._running.pop(k, None)
        self._manifests[k] = manifest
        self._records[k] = ArtifactsRecord(
            location=self.store.url_for(prefix), count=len(manifest.entries), total_bytes=manifest.total_bytes,
            files=[ArtifactFile(path=e.path, size=e.size, sha256=e.sha256) for e in manifest.entries[:MAX_ARTIFACTS_LISTED]],
            skipped=manifest.skipped_total, synced_time=utcnow(), complete=final)
        self.enqueue(key)

    async def stop(self) -> None:
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
