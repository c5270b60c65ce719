"""A keyed retry queue for the record's writes: they never hold a reconcile, and a failure is retried.

The archive database or the log store may be down exactly when an experiment finishes. Writing
them inline would stall the worker (and every experiment behind it) or lose the record. So each
write is a job under a key — ``("record", uid)``, ``("log", uid, task, attempt)`` — run in the
background by at most ``concurrency`` runners, and retried with capped exponential backoff while it
fails with a transient error. A newer job under the same key replaces the pending one (the latest
snapshot of an experiment is the one worth writing). The queue is bounded: past ``max_pending`` a
new key is refused (counted), which loses nothing durable — the triggers are level-based, so the
controller's periodic resync offers the job again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from kuberun.aiowait import wait_for

log = logging.getLogger("kuberun.operator.recording")

Job = Callable[[], Awaitable[None]]


class Permanent(Exception):
    """A job failed in a way no retry fixes (bad input, a log that no longer exists): it is dropped."""


@dataclass
class _Entry:
    job: Job
    what: str
    due: float
    failures: int = 0
    generation: int = 0


@dataclass
class RetryQueue:
    concurrency: int = 2
    max_pending: int = 10_000
    first_delay: float = 1.0
    max_delay: float = 300.0
    on_result: Callable[[str, bool, BaseException | None], None] = lambda what, ok, exc: None
    _entries: dict[Hashable, _Entry] = field(default_factory=dict)
    _running: set[Hashable] = field(default_factory=set)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    refused: int = 0
    failing: int = 0  # jobs whose last run failed and that wait for a retry

    def put(self, key: Hashable, what: str, job: Job) -> bool:
        """Schedule ``job`` now (replacing a pending job of the same key). False when full."""
        old = self._entries.get(key)
        if old is None and len(self._entries) >= self.max_pending:
            self.refused += 1
            return False
        if old is not None and old.failures:
            self.failing -= 1
        generation = old.generation + 1 if old is not None else 0
        self._entries[key] = _Entry(job, what, time.monotonic(), 0, generation)
        self._wakeup.set()
        return True

    def pending(self) -> int:
        return len(self._entries)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._runner(), name=f"kuberun-recording-{i}") for i in range(self.concurrency)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until nothing is pending: for an orderly shutdown and tests."""
        deadline = time.monotonic() + timeout
        while self._entries and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self._entries

    def _next(self) -> tuple[Hashable, _Entry] | float:
        """The due entry not already running, or the seconds until the next one is due."""
        now, wait = time.monotonic(), self.max_delay
        for key, entry in self._entries.items():
            if key in self._running:
                continue
            if entry.due <= now:
                return key, entry
            wait = min(wait, entry.due - now)
        return wait

    async def _runner(self) -> None:
        while True:
            found = self._next()
            if isinstance(found, float):
                self._wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):  # due: look again
                    await wait_for(self._wakeup.wait(), timeout=found)
                continue
            key, entry = found
            self._running.add(key)
            try:
                await self._run_one(key, entry)
            finally:
                self._running.discard(key)
                self._wakeup.set()  # another runner may wait for this key

    async def _run_one(self, key: Hashable, entry: _Entry) -> None:
        try:
            await entry.job()
        except asyncio.CancelledError:
            raise
        except Permanent as exc:
            log.warning("%s: %s; not retried", entry.what, exc)
            self._finish(key, entry, False, exc)
        except Exception as exc:  # transient by default: the database or the store may come back
            current = self._entries.get(key)
            if current is not entry:  # replaced meanwhile: the newer job runs next
                self.on_result(entry.what, False, exc)
                return
            if not entry.failures:
                self.failing += 1
            entry.failures += 1
            delay = min(self.max_delay, self.first_delay * 2 ** min(entry.failures - 1, 20))
            entry.due = time.monotonic() + delay
            log.warning("%s failed (%s: %s); retry %d in %.0fs", entry.what, type(exc).__name__, exc, entry.failures, delay)
            self.on_result(entry.what, False, exc)
        else:
            self._finish(key, entry, True, None)

    def _finish(self, key: Hashable, entry: _Entry, ok: bool, exc: BaseException | None) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]
            if entry.failures:
                self.failing -= 1
        self.on_result(entry.what, ok, exc)
