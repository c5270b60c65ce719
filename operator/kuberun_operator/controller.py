"""The controller: carries out what reconcile decides, and writes the status. It decides nothing.

kopf watches Experiments and their children and feeds the work queue (``handlers.py``);
workers take a key, read the cached object, ask the backends what they observe, call the pure
``reconcile``, perform its actions, fold their outcomes back in (the pure ``fold_outcomes``) and
write the status once — only when it changed, as a patch guarded by resourceVersion. The same
key is never reconciled concurrently; a key enqueued while in progress is reconciled again
after (level-triggered). Backends' optional capabilities are checked with ``isinstance``
against the protocols in ``backends.base``; time comes from an injected ``Clock``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from kuberun.resource import ExperimentResource
from kuberun.resource.constants import MAX_MESSAGE
from kuberun.resource.errors_format import format_validation_error
from kuberun.resource.times import format_time
from kuberun_operator import codegc, lineage
from kuberun_operator.actions import (
    Action,
    Cancel,
    Decision,
    DeleteExperiment,
    Event,
    Observed,
    Submit,
    Suspend,
)
from kuberun_operator.backends.base import (
    REMOTE_FINALIZER,
    Backend,
    BackendError,
    BackendNotConfigured,
    CancelOnDelete,
    Lifecycle,
    Polled,
    QueuesDependencies,
    Suspendable,
)
from kuberun_operator.clock import Clock, SystemClock
from kuberun_operator.decode import Decoded, carry_unknown, decode, format_paths
from kuberun_operator.eventposting import EventPoster, EventSink
from kuberun_operator.identity import verified_ref
from kuberun_operator.kube import ApiError, Kube, resource_version
from kuberun_operator.packed import PackedExperiments
from kuberun_operator.policy.budget import compact
from kuberun_operator.policy.submission import Done, Outcome, fold_outcomes
from kuberun_operator.reconcile import reconcile
from kuberun_operator.rejection import rejected_status, understood
from kuberun_operator.resync import refetch, resync_forever
from kuberun_operator.settings import Settings
from kuberun_operator.traits import traits_for
from kuberun_operator.workqueue import Key, WorkQueue

__all__ = ["REMOTE_FINALIZER", "Controller"]

log = logging.getLogger("kuberun.operator")
SUBMIT_CONCURRENCY = 16  # one experiment's submits in flight at once (a wide fan-out's first reconcile)


class Controller:
    # Seconds before a key is reconciled again after a failed reconcile (instances may lower them in tests).
    retry_conflict = 0.2     # 409/422: someone wrote first; the object is read again, then decided again
    retry_api_error = 5.0
    retry_backend = 10.0     # a backend's observe or a finalizer's cancel failed
    retry_unexpected = 10.0

    def __init__(self, settings: Settings, kube: Kube, backends: Mapping[str, Backend], post_event: EventSink,
                 metrics: Any = None, clock: Clock | None = None) -> None:
        self.settings, self.kube, self.backends, self.post_event = settings, kube, dict(backends), post_event
        self.metrics = metrics
        self.clock: Clock = clock or SystemClock()
        self.queue = WorkQueue()
        self.experiments = PackedExperiments()  # slim, packed: read with .get(key) (a fresh copy each time)
        self._workers: list[asyncio.Task[None]] = []
        # Events go out in the background, in order per Experiment (eventposting.py). Through
        # self.post_event and self.clock as they are at the time, which tests may replace.
        self.events = EventPoster(lambda body, event: self.post_event(body, event), lambda: self.clock.now())
        self.started = False
        self.synced = False  # the Experiments were listed from the API once (resync.py)
        self.recorder: Any = None  # recording.Recorder: the archive and log store, when configured (app.build)
        self.gate: Any = None  # leadership.Leadership: admit(body) / check() while a Lease is held; None: always
        self.artifacts: Any = None  # recording.artifacts.ArtifactSync when a log store is configured (app.py)

    # -- feeding -------------------------------------------------------------------------------

    def experiment_seen(self, body: dict[str, Any], deleted: bool = False) -> None:
        meta = body.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if deleted:
            self.experiments.pop(key, None)
            if self.recorder is not None and (self.gate is None or self.gate.admit(body)):
                self.recorder.deleted(body)  # the shard's leader records it; a standby's kopf handler sees it too
            return
        old = self.experiments.version(key)
        if old is None or resource_version(body) >= old[0] or old[1] != (meta.get("uid") or ""):
            self.experiments[key] = body
        self.queue.add(key)

    def child_changed(self, key: Key | None) -> None:
        if key is not None and key in self.experiments:
            self.queue.add(key)

    # -- running -------------------------------------------------------------------------------

    async def start(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        # The official client blocks: give every worker (and event posting) a thread — once per
        # loop, though a replica that leads again (leadership/) starts the controller again.
        loop = asyncio.get_running_loop()
        if getattr(self, "_executor_loop", None) is not loop:
            loop.set_default_executor(ThreadPoolExecutor(self.settings.workers * 2 + 4))
            self._executor_loop = loop
        for backend in self.backends.values():
            if isinstance(backend, Lifecycle):
                await backend.start()
        if self.recorder is not None:
            await self.recorder.start()
        self._workers = [asyncio.create_task(self._work(), name=f"kuberun-worker-{i}") for i in range(self.settings.workers)]
        if self.settings.resync_seconds > 0:
            self._workers.append(asyncio.create_task(resync_forever(self, self.settings.resync_seconds),
                                                     name="kuberun-resync"))
        else:
            self.synced = True  # no relist configured: nothing to wait for
        if (collector := codegc.start(self)) is not None:
            self._workers.append(collector)
        self.started = True

    def health(self) -> tuple[bool, str]:
        """(alive, reason): started, and no worker or resync task has ended."""
        if not self.started:
            return False, "the controller has not started"
        dead = [t.get_name() for t in self._workers if t.done()]
        return (False, f"controller tasks ended: {', '.join(dead)}") if dead else (True, "ok")

    def readiness(self) -> tuple[bool, str]:
        ok, reason = self.health()
        if ok and not self.synced:
            return False, "the first list of Experiments has not succeeded yet"
        return ok, reason if not ok else "ready"

    async def stop(self) -> None:
        self.started = False
        self.queue.close()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await self.events.drain()
        if self.recorder is not None:
            await self.recorder.stop()
        if self.artifacts is not None:
            await self.artifacts.stop()
        for backend in self.backends.values():
            if isinstance(backend, Lifecycle):
                await backend.stop()

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            started = time.perf_counter()
            try:
                await self.reconcile_key(key)
            except ApiError as exc:
                await self._after_api_error(key, exc)
            except Exception:
                log.exception("reconcile %s/%s failed unexpectedly; retrying in %.0fs", *key, self.retry_unexpected)
                self.queue.add_after(key, self.retry_unexpected)
            finally:
                self.queue.done(key)
                if self.metrics is not None:
                    self.metrics.reconciled(time.perf_counter() - started, self.queue.depth())

    async def _after_api_error(self, key: Key, exc: ApiError) -> None:
        """A failed precondition or a 404: read the object again (or drop it), then decide again."""
        if exc.status not in (404, 409, 422):
            log.warning("reconcile %s/%s: API error %s; retrying", *key, exc)
            self.queue.add_after(key, self.retry_api_error)
            return
        log.info("reconcile %s/%s: %s; reading it again", *key, exc)
        try:
            exists = await refetch(self.kube, self.experiments, key)
        except ApiError as again:
            log.warning("reconcile %s/%s: cannot read it again (%s); retrying", *key, again)
            self.queue.add_after(key, self.retry_api_error)
            return
        if exists:
            self.queue.add_after(key, self.retry_conflict)

    async def reconcile_key(self, key: Key) -> None:
        body = self.experiments.get(key)
        if body is None or (self.gate is not None and not self.gate.admit(body)):
            return  # gone, or another shard's (leader election)
        decoded = decode(body)  # lenient: fields this version does not know are set aside, kept, written back
        exp = decoded.resource
        if exp is None:
            if not body["metadata"].get("deletionTimestamp"):
                await self._reject(body, format_validation_error(decoded.error, []) if decoded.error else "undecodable")
            return
        if unknown_spec := decoded.unknown_under("spec"):
            self.events.warn(body, Event("Warning", "UnknownSpecFields", "this operator does not know (and ignores) "
                                   f"{format_paths(unknown_spec, 'spec')[:800]}: it is older than the SDK or CRD that wrote them"))
        if body["metadata"].get("deletionTimestamp"):
            await self._finalize(body, exp)  # owner references collect the Kubernetes children
            return
        if not await self._ensure_finalizers(body, exp):
            return  # the finalizer write triggers another reconcile with the new object
        await lineage.record(self.kube, self.experiments, body)  # a reproduction's first reconcile: on its original
        observed = await self._observe(key, body, exp)
        decision = reconcile(exp, observed, self.clock.now(), traits=traits_for(exp, self.backends),
                             max_backoff=self.settings.max_backoff_seconds,
                             local_enabled=self.settings.enable_local_executor)
        if self.recorder is not None and any(isinstance(a, DeleteExperiment) for a in decision.actions):
            self.recorder.expiring(body, decision.status)  # the TTL deletes it before this status is written
        outcomes = await self._perform(exp, decision)
        decision = fold_outcomes(decision, outcomes, self.clock.now())
        understood(decision.status)
        if self.recorder is not None:
            self.recorder.attempts_ended(body, decision.status)  # before compact drops any: every attempt is archived
        held = self.recorder.held(exp.metadata.uid or "", decision.status) if self.recorder is not None else set()
        compact(decision.status, held=held)  # under STATUS_BUDGET, keeping attempts not yet archived (policy/budget.py)
        if self.recorder is not None:
            self.recorder.compacted(body, decision.status, held)
        if self.artifacts is not None:
            self.artifacts.apply(exp, decision.status)  # records finished syncs, starts due ones (never blocks)
        lineage.mark_new(body, decision.status)
        await self._write_status(body, exp, decision, decoded)
        self.events.post(body, decision.events)
        if self.recorder is not None:
            self.recorder.reconciled(self.experiments.get(key, body), decision.status)
        if decision.requeue_after is not None:
            self.queue.add_after(key, decision.requeue_after)
        polls = [b.poll_interval for b in self._active_backends(decision) if isinstance(b, Polled) and b.poll_interval]
        if polls:
            self.queue.add_after(key, min(polls))

    async def _observe(self, key: Key, body: dict[str, Any], exp: ExperimentResource) -> dict[tuple[str, int], Observed]:
        observed: dict[tuple[str, int], Observed] = {}
        for name in {t.executor.backend for t in exp.spec.tasks} & set(self.backends):
            try:
                observed.update(await self.backends[name].observe(exp))
            except BackendError as exc:  # unseen attempts are resubmitted (idempotently) or waited for
                self.events.warn(body, Event("Warning", exc.reason, exc.message))
                self.queue.add_after(key, self.retry_backend)
        return observed

    def _active_backends(self, decision: Decision) -> list[Backend]:
        """Backends running an attempt of this experiment (the Polled ones send no events)."""
        names = {t.attempts[-1].backend_ref.backend for t in decision.status.tasks
                 if t.attempts and t.attempts[-1].backend_ref is not None and not t.attempts[-1].phase.finished}
        return [self.backends[n] for n in sorted(names) if n in self.backends]

    def _finalizers_for(self, exp: ExperimentResource) -> set[str]:
        """The finalizers the backends of ``exp``'s tasks declare (CancelOnDelete)."""
        return {b.finalizer for t in exp.spec.tasks if isinstance(b := self.backends.get(t.executor.backend), CancelOnDelete)}

    async def _ensure_finalizers(self, body: dict[str, Any], exp: ExperimentResource) -> bool:
        """Remote work gets its finalizer before anything is submitted, so deletion can cancel it."""
        finalizers = list(body["metadata"].get("finalizers") or [])
        missing = sorted(self._finalizers_for(exp) - set(finalizers))
        if not missing:
            return True
        meta = body["metadata"]
        written = await self.kube.set_experiment_finalizers(meta["namespace"], meta["name"], meta["resourceVersion"],
                                                            [*finalizers, *missing])
        self.experiments[(meta["namespace"], meta["name"])] = written
        return False

    async def _finalize(self, body: dict[str, Any], exp: ExperimentResource) -> None:
        """Cancel every unfinished attempt on a CancelOnDelete backend, then release the Experiment."""
        finalizers = list(body["metadata"].get("finalizers") or [])
        ours = {b.finalizer for b in self.backends.values() if isinstance(b, CancelOnDelete)} | {REMOTE_FINALIZER}
        if not ours & set(finalizers):
            return
        for record in exp.status.tasks if exp.status else []:
            for attempt in record.attempts:
                ref = attempt.backend_ref
                backend = self.backends.get(ref.backend) if ref is not None else None
                if ref is None or attempt.phase.finished or not isinstance(backend, CancelOnDelete):
                    continue
                try:  # the key recomputed from the UID: a tampered status cannot aim the cancel elsewhere
                    await backend.cancel(exp, exp.spec.task(record.name), attempt.attempt,
                                         verified_ref(exp, record.name, attempt.attempt, ref))
                except BackendError as exc:
                    await self.post_event(body, Event("Warning", exc.reason, f"cannot cancel {record.name!r} yet: {exc.message}"))
                    self.queue.add_after((body["metadata"]["namespace"], body["metadata"]["name"]), self.retry_backend)
                    return
        meta = body["metadata"]
        await self.kube.set_experiment_finalizers(meta["namespace"], meta["name"], meta["resourceVersion"],
                                                  [f for f in finalizers if f not in ours])

    async def _perform(self, exp: ExperimentResource, decision: Decision) -> list[tuple[Action, Outcome]]:
        """Carry out each action; return what each came to (in the actions' order), for ``fold_outcomes``.

        Submits of different tasks are independent (each keyed by its own deterministic name), so a
        wide fan-out's submits run concurrently, at most ``SUBMIT_CONCURRENCY`` at once; every other
        action runs alone, in order."""
        limit = asyncio.Semaphore(SUBMIT_CONCURRENCY)

        async def submit(action: Submit) -> Outcome:
            async with limit:
                return await self._one(exp, action)

        outcomes: list[tuple[Action, Outcome]] = []
        pending: list[Submit] = []
        for action in [*decision.actions, None]:
            if isinstance(action, Submit):
                pending.append(action)
                continue
            if pending:
                outcomes += zip(pending, await asyncio.gather(*(submit(a) for a in pending)), strict=True)
                pending = []
            if action is not None:
                outcomes.append((action, await self._one(exp, action)))
        return outcomes

    async def _one(self, exp: ExperimentResource, action: Action) -> Outcome:
        if isinstance(action, DeleteExperiment):
            await self.kube.delete_experiment(exp.metadata.namespace or "", exp.metadata.name or "")
            return Done()
        if self.gate is not None:
            self.gate.check()  # no sbatch or cloud launch once the lease is lost (NotLeader)
        backend = self.backends.get(action.ref.backend)
        if backend is None:
            return BackendNotConfigured(action.ref.backend)
        try:
            return await self._carry_out(exp, backend, action)
        except BackendError as exc:
            if self.metrics is not None:
                self.metrics.backend_error(action.ref.backend, exc.reason)
            return exc

    async def _carry_out(self, exp: ExperimentResource, backend: Backend, action: Submit | Cancel | Suspend) -> Outcome:
        task = exp.spec.task(action.task)
        ref = verified_ref(exp, action.task, action.attempt, action.ref)  # never the key status claims
        if isinstance(action, Submit):
            if action.after and isinstance(backend, QueuesDependencies):  # reconcile plans `after` only for these
                return await backend.submit_after(exp, task, action.attempt, ref, action.after)
            return await backend.submit(exp, task, action.attempt, ref)
        if isinstance(action, Cancel):
            await backend.cancel(exp, task, action.attempt, ref)
        elif isinstance(backend, Suspendable):
            await backend.suspend(exp, task, action.attempt, ref, action.suspended)
        else:  # reconcile suspends only where the traits say Suspendable: a bug if reached
            log.error("backend %s cannot suspend; ignoring %s", action.ref.backend, action)
        return Done()

    async def _write_status(self, body: dict[str, Any], exp: ExperimentResource, decision: Decision,
                            decoded: Decoded | None = None) -> None:
        new = decision.status.to_dict()
        if decoded is not None and (unknown := decoded.unknown_under("status")):
            carry_unknown(body.get("status") or {}, new, unknown)  # a newer operator's fields, untouched
        if new == (body.get("status") or {}):
            return
        meta = body["metadata"]
        written = await self.kube.replace_experiment_status(meta["namespace"], meta["name"], meta["resourceVersion"], new)
        if self.metrics is not None:
            self.metrics.status_written(exp, body.get("status") or {}, new)
        self.experiments[(meta["namespace"], meta["name"])] = written

    async def _reject(self, body: dict[str, Any], message: str) -> None:
        """A spec the operator cannot handle: a condition and an Event, once; the status keeps every task and attempt."""
        meta = body["metadata"]
        status = rejected_status(body.get("status"), body.get("spec"), meta.get("generation"), message,
                                 format_time(self.clock.now()))
        if status is None:
            return  # already said
        written = await self.kube.replace_experiment_status(meta["namespace"], meta["name"], meta["resourceVersion"], status)
        self.experiments[(meta["namespace"], meta["name"])] = written
        await self.post_event(body, Event("Warning", "InvalidSpec", message[:MAX_MESSAGE]))
