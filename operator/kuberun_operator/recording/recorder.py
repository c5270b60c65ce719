"""The recorder: writes an experiment's record where it outlives the object, without holding reconciles.

Four moments, all level-triggered from what the controller has just written, so a missed moment
(an operator restart, a database that was down) is offered again by the next reconcile or resync:

- an attempt ended (final phase, reached a backend, no ``archivedLog`` yet): copy its log into the
  log store (``attempt_end.on_attempt_ended``); the location is folded into the attempt's status by
  the controller's next status write (``annotate``), and added to the archive's locations;
- an attempt ended, seen *before* the status budget compacts the status (``attempts_ended``):
  its entry — times, phase, reason, exit code, result — becomes a row of the archive's attempts,
  so an attempt the budget drops from the object is still in the record (batched per experiment).
  Until that row is confirmed written the attempt is ``held``: the budget does not drop it from
  the status (policy/budget.py), so an operator that dies with the write still queued loses
  nothing — the next one sees the attempt in status and writes it. Which rows exist is re-derived
  from the archive the first time a (new) operator writes an experiment's attempts;
- the experiment is first seen: the ConfigMaps its spec points at (large configs, code chunks) are
  copied into the archive once (``configs.py``), so a deleted experiment can still be described and
  reproduced;
- the experiment is finished (its status differs from the one last archived): upsert its full record
  — metadata, spec, status, Events, lineage — by uid;
- the experiment was deleted (or expired: the TTL deletes it): upsert again, with the deletion time
  and the Events of then (the archive merges Events across recordings).

Every write is a job in a ``RetryQueue`` (capped backoff while the archive or the store is
unreachable; a Warning Event on the experiment and the ``kuberun_record_failing`` gauge say so).
Opening the archive is itself retried: an operator whose database is down still reconciles.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kuberun.resource import ArchivedLog, ExperimentResource, ExperimentStatus
from kuberun.resource.times import format_time
from kuberun_operator import decode
from kuberun_operator.actions import Event
from kuberun_operator.archive import ArchiveError, ArchiveUnavailable, AsyncArchive, InvalidRecord
from kuberun_operator.archive.limits import MAX_CONFIG_MAPS_PER_CALL
from kuberun_operator.backends.base import Backend
from kuberun_operator.clock import Clock, SystemClock
from kuberun_operator.kube import ApiError, Kube
from kuberun_operator.logstore import LogStore, LogStoreConfigError, UnsafePathError
from kuberun_operator.recording import configs
from kuberun_operator.recording.attempt_end import AttemptEnded, location_row, on_attempt_ended
from kuberun_operator.recording.retry import Permanent, RetryQueue
from kuberun_operator.recording.sources import has_log

log = logging.getLogger("kuberun.operator.recording")
Key = tuple[str, str]
EventSink = Callable[[dict[str, Any], Event], None]


def status_digest(status: Mapping[str, Any] | None) -> str:
    return hashlib.sha256(json.dumps(status or {}, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Recorder:
    """Archive + log store writes for one operator instance. Either part may be absent (not configured)."""

    def __init__(self, kube: Kube, backends: Mapping[str, Backend], *, archive_url: Callable[[], str] | None,
                 store: LogStore | None, wake: Callable[[Key], None], warn: EventSink,
                 metrics: Any = None, clock: Clock | None = None, queue: RetryQueue | None = None) -> None:
        self.kube, self.backends, self.store = kube, backends, store
        self._archive_url = archive_url
        self.archive: AsyncArchive | None = None
        self._wake, self._warn, self.metrics = wake, warn, metrics
        self.clock: Clock = clock or SystemClock()
        self.queue = queue or RetryQueue()
        self.queue.on_result = self._result
        self.archived_logs: dict[tuple[str, str, int], ArchivedLog] = {}  # copied, not yet in a written status
        self._copying: set[tuple[str, str, int]] = set()                    # scheduled, done or given up
        self._recorded: dict[str, str] = {}                                  # uid -> digest of the archived status
        self._final: dict[str, dict[str, Any]] = {}                          # uid -> final status an expiry never wrote
        self._open_lock = asyncio.Lock()
        self._attempts_seen: set[tuple[str, str, int]] = set()              # ended attempts queued for the archive
        self._attempts_pending: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}  # uid -> not yet written
        self._confirmed: dict[str, set[tuple[str, int]]] = {}  # uid -> (task, attempt) whose archive row exists
        self._derived: set[str] = set()                        # uids whose existing rows were read this lifetime
        self._configs_done: set[str] = set()                   # uids whose ConfigMaps are archived (or scheduled)

    @property
    def enabled(self) -> bool:
        return self._archive_url is not None or self.store is not None

    async def start(self) -> None:
        self.queue.start()

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Give pending writes a moment (an orderly shutdown), then stop and close the archive."""
        await self.queue.drain(drain_seconds)
        await self.queue.stop()
        if self.archive is not None:
            await self.archive.close()
            self.archive = None

    # -- the controller's calls --------------------------------------------------------------

    def reconciled(self, body: dict[str, Any], status: ExperimentStatus | None) -> None:
        """After a reconcile: schedule the log copies of ended attempts and, if finished, the record."""
        uid = (body.get("metadata") or {}).get("uid", "")
        if not uid or status is None:
            return
        self._copy_logs(body, status)
        if self._archive_url is not None and uid not in self._configs_done:
            self._configs_done.add(uid)
            if configs.referenced(body.get("spec")):
                self._schedule_configs(body)
        if self._archive_url is not None and status.phase.finished:
            digest = status_digest(body.get("status"))
            if self._recorded.get(uid) != digest:
                self._schedule_record(body, digest, "finished")

    def attempts_ended(self, body: dict[str, Any], status: ExperimentStatus) -> None:
        """Before the budget compacts ``status``: archive each attempt that has ended since last seen,
        and start copying its log.

        Called with the status as reconcile decided it, so an attempt that ends and is dropped from
        status in the same write is still seen here once (``reconciled`` sees only what was kept).
        One job per experiment writes all that are pending (a later call adds to the batch; a
        failed write keeps them for the retry).
        """
        uid = (body.get("metadata") or {}).get("uid")
        if not uid:
            return
        self._copy_logs(body, status)
        if self._archive_url is None:
            return
        fresh = {}
        for task in status.tasks:
            for attempt in task.attempts:
                key = (uid, task.name, attempt.attempt)
                if attempt.phase.finished and key not in self._attempts_seen:
                    self._attempts_seen.add(key)
                    fresh[(task.name, attempt.attempt)] = attempt.to_dict()
        if fresh:
            self._attempts_pending.setdefault(uid, {}).update(fresh)
            self._schedule_attempts(body)

    def held(self, uid: str, status: ExperimentStatus) -> set[tuple[str, int]]:
        """The finished attempts of ``status`` whose archive row is not confirmed written: compaction
        must keep them (with no archive configured, none: there is nothing to wait for)."""
        if self._archive_url is None:
            return set()
        confirmed = self._confirmed.get(uid, set())
        return {(t.name, a.attempt) for t in status.tasks for a in t.attempts
                if a.phase.finished and (t.name, a.attempt) not in confirmed}

    def compacted(self, body: dict[str, Any], status: ExperimentStatus, held: set[tuple[str, int]]) -> None:
        """After compaction: fold in the copied logs' locations, and say so when the ceiling made the
        budget drop held attempts (their rows are still queued, in memory only, until the archive is back)."""
        uid = (body.get("metadata") or {}).get("uid") or ""
        self.annotate(uid, status)
        if not held:
            return
        kept = {(t.name, a.attempt) for t in status.tasks for a in t.attempts}
        dropped = held - kept
        if dropped:
            self._warn(body, Event("Warning", "ArchiveBehind", (
                f"the status reached its ceiling while the archive is unreachable: {len(dropped)} ended attempts "
                "were dropped from it before their archive rows were written; they are written when the archive "
                "is back, unless the operator restarts first")[:1024]))

    def _copy_logs(self, body: dict[str, Any], status: ExperimentStatus) -> None:
        """Schedule the log copy of every ended attempt not copied (or scheduled) yet."""
        meta = body.get("metadata") or {}
        ns, name, uid = meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", "")
        if self.store is None:
            return
        experiment: ExperimentResource | None = None
        for task in status.tasks:
            for attempt in task.attempts:
                key = (uid, task.name, attempt.attempt)
                if attempt.archived_log is not None:
                    self.archived_logs.pop(key, None)  # in the record now
                    continue
                if attempt.phase.finished and has_log(attempt) and key not in self._copying:
                    self._copying.add(key)
                    experiment = experiment or decode.metadata_and_spec(body).resource
                    self._schedule_copy(AttemptEnded(ns, name, uid, task.name, attempt.model_copy(deep=True),
                                                     experiment), body)

    def expiring(self, body: dict[str, Any], status: ExperimentStatus) -> None:
        """The reconcile that finishes an experiment whose TTL has run out deletes it before its status
        is written: ``status`` is the final one, which the API will never hold. Record that one."""
        uid = (body.get("metadata") or {}).get("uid")
        if not uid:
            return
        final = {**body, "status": status.to_dict()}
        self._final[uid] = final["status"]
        self.reconciled(final, status)

    def deleted(self, body: dict[str, Any]) -> None:
        """The object is gone (deleted, or its TTL expired): record it once more, marked deleted."""
        meta = dict(body.get("metadata") or {})
        uid = meta.get("uid")
        if not uid:
            return
        final = self._final.pop(uid, None)
        if final is not None:
            body = {**body, "status": final}  # newer than the deleted object's
        self._recorded.pop(uid, None)
        self._copying = {k for k in self._copying if k[0] != uid}
        self._attempts_seen = {k for k in self._attempts_seen if k[0] != uid}  # pending ones are still written
        self._confirmed.pop(uid, None)
        self._derived.discard(uid)
        self._configs_done.discard(uid)
        self.archived_logs = {k: v for k, v in self.archived_logs.items() if k[0] != uid}  # e.g. of dropped attempts
        if self._archive_url is None:
            return
        meta.setdefault("deletionTimestamp", format_time(self.clock.now()))
        self._schedule_record({**body, "metadata": meta}, status_digest(body.get("status")), "deleted")

    def annotate(self, uid: str, status: ExperimentStatus) -> None:
        """Fold the copied logs' locations into the status about to be written."""
        if not self.archived_logs:
            return
        for task in status.tasks:
            for attempt in task.attempts:
                found = self.archived_logs.get((uid, task.name, attempt.attempt))
                if found is not None and attempt.archived_log is None:
                    attempt.archived_log = found

    # -- jobs --------------------------------------------------------------------------------

    def _schedule_copy(self, ended: AttemptEnded, body: dict[str, Any]) -> None:
        what = f"log of {ended.namespace}/{ended.name} {ended.task} attempt {ended.attempt.attempt}"

        async def copy() -> None:
            assert self.store is not None
            try:
                archived = await on_attempt_ended(ended, kube=self.kube, backends=self.backends, store=self.store)
            except (LogStoreConfigError, UnsafePathError) as exc:  # no retry makes these right
                raise Permanent(str(exc)) from None
            except Permanent:
                raise
            except Exception as exc:
                self._warn(body, Event("Warning", "LogStoreUnavailable", f"cannot copy the {what} yet: {exc}"[:1024]))
                raise
            self.archived_logs[ended.key] = archived
            self._wake((ended.namespace, ended.name))
            if self._archive_url is not None:
                self.queue.put(("location", *ended.key), f"location of the {what}", self._location_job(ended, archived))

        self.queue.put(("log", *ended.key), what, copy)

    def _schedule_attempts(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        uid, what = meta["uid"], f"ended attempts of {meta.get('namespace')}/{meta.get('name')}"

        async def write() -> None:
            batch = dict(self._attempts_pending.get(uid) or {})
            if not batch:
                return
            try:
                archive = await self._open()
                if uid not in self._derived:  # a new operator: rows written before it are the entries as they ended
                    existing = {(row.task, row.attempt) for row in await archive.attempts(uid)}
                    self._confirmed.setdefault(uid, set()).update(existing)
                    self._derived.add(uid)
                confirmed = self._confirmed.get(uid, set())
                fresh = [(task, entry) for (task, number), entry in batch.items() if (task, number) not in confirmed]
                if fresh:
                    await archive.record_attempts(uid, fresh)
            except InvalidRecord as exc:
                self._attempts_pending.pop(uid, None)
                self._confirmed.setdefault(uid, set()).update(batch)  # never archivable: holding them helps no one
                raise Permanent(str(exc)) from None
            except ArchiveError as exc:
                self._warn(body, Event("Warning", "ArchiveUnavailable", f"the {what} wait for the archive: {exc}"[:1024]))
                raise
            pending = self._attempts_pending.get(uid) or {}
            for key, entry in batch.items():
                if pending.get(key) is entry:
                    del pending[key]  # written; a newer entry for the same attempt stays for the next run
            if not pending:
                self._attempts_pending.pop(uid, None)
            self._confirmed.setdefault(uid, set()).update(batch)
            self._wake((meta.get("namespace", ""), meta.get("name", "")))  # the budget may drop them now

        self.queue.put(("attempts", uid), what, write)

    def _schedule_configs(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        uid, ns, what = meta["uid"], meta.get("namespace", ""), f"ConfigMaps of {meta.get('namespace')}/{meta.get('name')}"

        async def copy() -> None:
            try:
                archive = await self._open()
                kept = await archive.config_map_names(uid)  # after a restart: only what it lacks is read
                found = []
                for name in [n for n in configs.referenced(body.get("spec")) if n not in kept]:
                    try:
                        found.append(await self.kube.get_config_map(ns, name))
                    except ApiError as exc:
                        if exc.status not in (403, 404):
                            raise
                        log.warning("%s: ConfigMap %s cannot be kept (%s)", what, name, exc.message)
                for start in range(0, len(found), MAX_CONFIG_MAPS_PER_CALL):
                    await archive.record_config_maps(uid, found[start:start + MAX_CONFIG_MAPS_PER_CALL])
            except InvalidRecord as exc:
                raise Permanent(str(exc)) from None
            except ArchiveError as exc:
                self._warn(body, Event("Warning", "ArchiveUnavailable", f"the {what} wait for the archive: {exc}"[:1024]))
                raise

        self.queue.put(("configs", uid), what, copy)

    def _location_job(self, ended: AttemptEnded, archived: ArchivedLog) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            row = location_row(archived)
            archive = await self._open()
            await archive.record_location(ended.uid, ended.task, ended.attempt.attempt, row["kind"], row["url"],
                                          row["size"], row["sha256"])

        return job

    def _schedule_record(self, body: dict[str, Any], digest: str, why: str) -> None:
        meta = body["metadata"]
        uid, what = meta["uid"], f"archive record of {meta.get('namespace')}/{meta.get('name')} ({why})"

        async def record() -> None:
            if why == "finished" and await self._already_archived(body):
                self._recorded[uid] = digest  # e.g. after an operator restart: no Events list, no write
                return
            try:
                events = await self.kube.list_events(meta.get("namespace", ""), uid)
            except ApiError as exc:
                if exc.status != 403:
                    raise
                log.warning("%s: may not list Events (%s); recorded without them", what, exc.message)
                events = []
            try:
                archive = await self._open()
                await archive.record(body, events)
            except InvalidRecord as exc:
                raise Permanent(str(exc)) from None
            except ArchiveError as exc:
                self._warn(body, Event("Warning", "ArchiveUnavailable", f"the {what} waits for the archive: {exc}"[:1024]))
                raise
            if why == "finished":
                self._recorded[uid] = digest

        self.queue.put(("record", uid), what, record)

    async def _already_archived(self, body: dict[str, Any]) -> bool:
        try:
            row = await (await self._open()).get_uid(body["metadata"]["uid"])
        except ArchiveError:
            return False  # the write below will say why
        return row is not None and row.status == body.get("status") and row.spec == body.get("spec")

    @property
    def has_archive(self) -> bool:
        return self._archive_url is not None

    async def blobs_held(self, sha256s: set[str]) -> set[str]:
        """Which contents the archive's ``archive_blobs`` holds (``codegc``); raises when it is unreachable."""
        return await (await self._open()).blobs_held(sha256s)

    async def _open(self) -> AsyncArchive:
        # One open at a time: the queue runs jobs concurrently, and two opens would leak one archive
        # (its threads and connections) and race the schema migration for nothing.
        async with self._open_lock:
            if self.archive is None:
                assert self._archive_url is not None
                try:
                    self.archive = await AsyncArchive.open(self._archive_url())
                except ArchiveError:
                    raise
                except (OSError, ValueError) as exc:
                    raise ArchiveUnavailable(f"cannot open the archive: {exc}") from None
            return self.archive

    def _result(self, what: str, ok: bool, exc: BaseException | None) -> None:
        if self.metrics is not None:
            self.metrics.record_write(what.split(" ", 1)[0], ok, self.queue.pending(), self.queue.failing)

    def health(self) -> tuple[bool, str]:
        if self.queue.failing:
            return True, f"{self.queue.failing} record writes wait for the archive or the log store"
        return True, "ok"

