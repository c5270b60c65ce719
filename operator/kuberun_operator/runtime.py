"""The controller: a work queue of Experiment keys, one reconcile per key at a time.

kopf watches Experiments and Jobs and feeds this queue (`handlers.py`); workers take a key,
read the cached object, ask the backends what they observe, call the pure `reconcile`, perform
its actions and write the status once — only when it changed. The same key is never reconciled
concurrently; a key enqueued while in progress is reconciled again after (level-triggered).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from kuberun.resource import ExperimentPhase, ExperimentResource, TaskPhase
from kuberun.resource.errors_format import format_validation_error
from kuberun_operator.actions import Cancel, Decision, DeleteExperiment, Event, Observed, Submit, Suspend
from kuberun_operator.backends.base import Backend, BackendError
from kuberun_operator.kube import ApiError, Kube, resource_version
from kuberun_operator.reconcile import reconcile
from kuberun_operator.settings import Settings

log = logging.getLogger("kuberun.operator")
# On Experiments with work outside the cluster: deletion waits until that work is cancelled.
REMOTE_FINALIZER = "kuberun.dev/cancel-remote"
Key = tuple[str, str]
EventSink = Callable[[dict[str, Any], Event], Awaitable[None]]


class WorkQueue:
    """Deduplicating delayed queue of keys (the controller-runtime pattern)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}

    def add(self, key: Key) -> None:
        if key in self._active:
            self._dirty.add(key)  # reconcile again once the running one ends
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        loop = asyncio.get_running_loop()
        timer = self._timers.get(key)
        due = loop.time() + delay
        if timer is not None and timer.when() <= due:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(due, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> Key:
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: Key) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def depth(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()


class Controller:
    def __init__(self, settings: Settings, kube: Kube, backends: dict[str, Backend], post_event: EventSink,
                 metrics: Any = None) -> None:
        self.settings, self.kube, self.backends, self.post_event = settings, kube, backends, post_event
        self.metrics = metrics
        self.queue = WorkQueue()
        self.experiments: dict[Key, dict[str, Any]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[None]] = set()
        self._warned: dict[tuple[Any, str, str], float] = {}

    # -- feeding -------------------------------------------------------------------------------

    def experiment_seen(self, body: dict[str, Any], deleted: bool = False) -> None:
        meta = body.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if deleted:
            self.experiments.pop(key, None)
            return
        old = self.experiments.get(key)
        if old is None or resource_version(body) >= resource_version(old) or old["metadata"].get("uid") != meta.get("uid"):
            self.experiments[key] = body
        self.queue.add(key)

    def child_changed(self, key: Key | None) -> None:
        if key is not None and key in self.experiments:
            self.queue.add(key)

    # -- running -------------------------------------------------------------------------------

    def _warn(self, body: dict[str, Any], event: Event) -> None:
        """Post a Warning, but the same one on the same Experiment at most every 5 minutes."""
        key = (body["metadata"].get("uid"), event.reason, event.message)
        now = time.monotonic()
        if now - self._warned.get(key, -1e9) < 300:
            return
        self._warned[key] = now
        self._spawn(self.post_event(body, event))

    def _spawn(self, coro: Awaitable[None]) -> None:  # informative work never holds a worker
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def start(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        # The official client blocks: give every worker (and event posting) a thread.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(self.settings.workers * 2 + 4))
        for backend in self.backends.values():
            if hasattr(backend, "start"):
                await backend.start()
        self._workers = [asyncio.create_task(self._work(), name=f"kuberun-worker-{i}") for i in range(self.settings.workers)]

    async def stop(self) -> None:
        self.queue.close()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, *self._background, return_exceptions=True)
        for backend in self.backends.values():
            if hasattr(backend, "stop"):
                await backend.stop()

    def _remote(self, backend: str) -> bool:
        return bool(getattr(self.backends.get(backend), "remote", False))

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            started = time.perf_counter()
            try:
                await self.reconcile_key(key)
            except ApiError as exc:
                log.warning("reconcile %s/%s: API error %s; retrying", *key, exc)
                self.queue.add_after(key, 1.0 if exc.status in (409, 422) else 5.0)
            except Exception:
                log.exception("reconcile %s/%s failed unexpectedly; retrying in 10s", *key)
                self.queue.add_after(key, 10.0)
            finally:
                self.queue.done(key)
                if self.metrics is not None:
                    self.metrics.reconciled(time.perf_counter() - started, self.queue.depth())

    async def reconcile_key(self, key: Key) -> None:
        body = self.experiments.get(key)
        if body is None:
            return
        try:
            exp = ExperimentResource.model_validate(body)
        except ValidationError as exc:
            if not body["metadata"].get("deletionTimestamp"):
                await self._reject(body, format_validation_error(exc, []))
            return
        if body["metadata"].get("deletionTimestamp"):
            await self._finalize(body, exp)  # owner references collect the Kubernetes children
            return
        if not await self._ensure_finalizer(body, exp):
            return  # the finalizer write triggers another reconcile with the new object
        now = datetime.now(timezone.utc)
        observed: dict[tuple[str, int], Observed] = {}
        for name in {t.executor.backend for t in exp.spec.tasks} & set(self.backends):
            try:
                observed.update(await self.backends[name].observe(exp))
            except BackendError as exc:  # unseen attempts are resubmitted (idempotently) or waited for
                self._warn(body, Event("Warning", exc.reason, exc.message))
                self.queue.add_after(key, 10.0)
        decision = reconcile(exp, observed, now, max_backoff=self.settings.max_backoff_seconds,
                             local_enabled=self.settings.enable_local_executor)
        await self._perform(exp, decision)
        await self._write_status(body, exp, decision)
        for event in decision.events:
            self._warn(body, event) if event.type == "Warning" else self._spawn(self.post_event(body, event))
        if decision.requeue_after is not None:
            self.queue.add_after(key, decision.requeue_after)
        polls = [getattr(self.backends[b], "poll_interval", None) for b in self._active_backends(decision)]
        if any(polls):
            self.queue.add_after(key, min(p for p in polls if p))

    def _active_backends(self, decision: Decision) -> set[str]:
        """Backends running an attempt of this experiment that need polling (they send no events)."""
        return {t.attempts[-1].backend_ref.backend for t in decision.status.tasks
                if t.attempts and t.attempts[-1].backend_ref is not None and not t.attempts[-1].phase.finished
                and t.attempts[-1].backend_ref.backend in self.backends}

    async def _ensure_finalizer(self, body: dict[str, Any], exp: ExperimentResource) -> bool:
        """Remote work gets a finalizer before anything is submitted, so deletion can cancel it."""
        finalizers = list(body["metadata"].get("finalizers") or [])
        if REMOTE_FINALIZER in finalizers or not any(self._remote(t.executor.backend) for t in exp.spec.tasks):
            return True
        meta = body["metadata"]
        written = await self.kube.set_experiment_finalizers(meta["namespace"], meta["name"], meta["resourceVersion"],
                                                            [*finalizers, REMOTE_FINALIZER])
        self.experiments[(meta["namespace"], meta["name"])] = written
        return False

    async def _finalize(self, body: dict[str, Any], exp: ExperimentResource) -> None:
        """Cancel every unfinished remote attempt, then release the Experiment."""
        finalizers = list(body["metadata"].get("finalizers") or [])
        if REMOTE_FINALIZER not in finalizers:
            return
        for record in exp.status.tasks if exp.status else []:
            for attempt in record.attempts:
                ref = attempt.backend_ref
                if ref is None or attempt.phase.finished or not self._remote(ref.backend):
                    continue
                try:
                    await self.backends[ref.backend].cancel(exp, exp.spec.task(record.name), attempt.attempt, ref)
                except BackendError as exc:
                    await self.post_event(body, Event("Warning", exc.reason, f"cannot cancel {record.name!r} yet: {exc.message}"))
                    self.queue.add_after((body["metadata"]["namespace"], body["metadata"]["name"]), 10.0)
                    return
        meta = body["metadata"]
        await self.kube.set_experiment_finalizers(meta["namespace"], meta["name"], meta["resourceVersion"],
                                                  [f for f in finalizers if f != REMOTE_FINALIZER])

    async def _perform(self, exp: ExperimentResource, decision: Decision) -> None:
        status = decision.status
        for action in decision.actions:
            if isinstance(action, DeleteExperiment):
                await self.kube.delete_experiment(exp.metadata.namespace or "", exp.metadata.name or "")
                continue
            task = exp.spec.task(action.task)
            backend = self.backends.get(action.ref.backend)
            record = status.task(action.task)
            assert record is not None
            attempt = next(a for a in record.attempts if a.attempt == action.attempt)
            if backend is None:
                _fail_attempt(record, attempt, "BackendNotConfigured",
                              f"this operator has no {action.ref.backend!r} backend configured", decision)
                continue
            try:
                if isinstance(action, Submit):
                    if self._remote(action.ref.backend) and not _recorded(exp, action):
                        # Record the idempotency key in status first (this reconcile's write);
                        # the next reconcile submits. A crash in between finds the key, not a job.
                        decision.requeue_after = 0.0
                        continue
                    submitted = await backend.submit(exp, task, action.attempt, action.ref)
                    if attempt.backend_ref is not None:
                        attempt.backend_ref.id = submitted.id
                        attempt.backend_ref.cluster = submitted.cluster or attempt.backend_ref.cluster
                    attempt.log_ref = attempt.log_ref or submitted.log_ref
                elif isinstance(action, Cancel):
                    await backend.cancel(exp, task, action.attempt, action.ref)
                elif isinstance(action, Suspend):
                    await backend.suspend(exp, task, action.attempt, action.ref, action.suspended)
            except BackendError as exc:
                if self.metrics is not None:
                    self.metrics.backend_error(action.ref.backend, exc.reason)
                if exc.permanent and isinstance(action, Submit):
                    _fail_attempt(record, attempt, exc.reason, exc.message, decision)
                else:
                    decision.events.append(Event("Warning", exc.reason, exc.message))
                    decision.requeue_after = 10.0 if decision.requeue_after is None else min(decision.requeue_after, 10.0)

    async def _write_status(self, body: dict[str, Any], exp: ExperimentResource, decision: Decision) -> None:
        new = decision.status.to_dict()
        if new == (body.get("status") or {}):
            return
        meta = body["metadata"]
        written = await self.kube.replace_experiment_status(meta["namespace"], meta["name"], meta["resourceVersion"], new)
        if self.metrics is not None:
            self.metrics.status_written(exp, body.get("status") or {}, new)
        self.experiments[(meta["namespace"], meta["name"])] = written

    async def _reject(self, body: dict[str, Any], message: str) -> None:
        """A spec the operator cannot accept: Failed with reason InvalidSpec, once, and no retry loop."""
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = body["metadata"]
        old = body.get("status") or {}
        if old.get("phase") == ExperimentPhase.FAILED.value and any(c.get("reason") == "InvalidSpec" for c in old.get("conditions", [])):
            return
        status = {"phase": "Failed", "observedGeneration": meta.get("generation"), "completionTime": now, "conditions": [
            {"type": "Failed", "status": "True", "reason": "InvalidSpec", "message": message[:32768],
             "lastTransitionTime": now, "observedGeneration": meta.get("generation")}]}
        written = await self.kube.replace_experiment_status(meta["namespace"], meta["name"], meta["resourceVersion"], status)
        self.experiments[(meta["namespace"], meta["name"])] = written
        await self.post_event(body, Event("Warning", "InvalidSpec", message[:1024]))


def _recorded(exp: ExperimentResource, action: Submit) -> bool:
    """Whether the stored status (as read, before this reconcile) already holds this attempt."""
    record = exp.status.task(action.task) if exp.status else None
    return record is not None and any(a.attempt == action.attempt for a in record.attempts)


def _fail_attempt(record: Any, attempt: Any, reason: str, message: str, decision: Decision) -> None:
    """A submission the backend refused for good: the attempt and its task fail (no retry can fix it).

    The experiment's phase, conditions and dependents follow in the next reconcile, which the
    status write of this one triggers: the roll-up stays in one place, the pure reconcile.
    """
    now = datetime.now(timezone.utc)
    attempt.phase, attempt.finish_time, attempt.reason, attempt.message = TaskPhase.FAILED, now, reason, message[:1024]
    record.phase, record.finish_time, record.reason, record.message = TaskPhase.FAILED, now, reason, message[:1024]
    decision.events.append(Event("Warning", reason, f"task {record.name!r}: {message}"[:1024]))
