"""One Lease, campaigned for and renewed: client-go's leader election, in asyncio.

Three durations, with client-go's defaults and its invariant ``retry < renew deadline < lease``:

- ``retry_period`` (2 s): how often a candidate tries to take the lease and the leader renews it;
- ``renew_deadline`` (10 s): the leader may act only until this long after its last successful
  renewal *began* (``valid_until``); a renewal that fails, hangs or is refused past that moment
  ends the leadership — a partitioned leader stops by itself, it needs no one to tell it;
- ``lease_duration`` (15 s): how long a standby waits, seeing the record unchanged, before it
  takes the lease. The gap between the two (5 s) is the margin in which a leader that has already
  stopped writing cannot overlap with the next one, even with its last request still in flight.

``valid_until`` is what the write fence (``fence.py``) reads before every write, on the
thread that sends it, so no write leaves after the deadline however late the loop notices.

Shards add a hand-back: a replica that holds a shard only as its fallback (``extra_wait`` > 0)
gives it up when the replica it belongs to (``preferred``) asks, by annotating the Lease with
``kuberun.dev/wanted-by`` — so a shard taken over while its owner was down, or before its owner
had started, returns to it instead of one replica keeping every shard for good.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from kuberun.aiowait import wait_for
from kuberun_operator.kube import ApiError
from kuberun_operator.leadership.record import WANTED_BY, LeaseRecord, may_take

log = logging.getLogger("kuberun.operator.leadership")


@dataclass(frozen=True)
class Timing:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs 0 < retry period < renew deadline < lease duration "
                             f"(got {self.retry_period}, {self.renew_deadline}, {self.lease_duration})")


class LeaseApi(Protocol):
    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]: ...


class Elector:
    """Campaign for one Lease forever; ``held`` says whether this replica may act for it now."""

    def __init__(self, api: LeaseApi, namespace: str, name: str, identity: str, timing: Timing,
                 extra_wait: float = 0.0, on_change: Callable[[], None] = lambda: None,
                 monotonic: Callable[[], float] = time.monotonic, preferred: bool = False) -> None:
        self.api, self.namespace, self.name, self.identity, self.timing = api, namespace, name, identity, timing
        self.preferred = preferred  # shards: this lease belongs to this replica and is asked back
        self.extra_wait, self.on_change, self.monotonic = extra_wait, on_change, monotonic
        self.valid_until = 0.0          # monotonic; writes for this lease are allowed before it
        self.leading = False            # the loop's view (valid_until is the fence's)
        self.holder = ""                # the last holder seen, for logs and readiness
        self.transitions = 0            # times this replica became leader of this lease
        self._observed = LeaseRecord()
        self._observed_at = monotonic()
        self._release_next = False  # a hand-back in progress (shards)

    @property
    def held(self) -> bool:
        return self.monotonic() < self.valid_until

    async def run(self) -> None:
        """Campaign, then renew, until cancelled; demote at the deadline when renewals fail."""
        while True:
            try:
                await self._round()
            except Exception:  # a bug here must not end the campaign: log, count as a failed round
                log.exception("lease %s/%s: unexpected error", self.namespace, self.name)
            if self.leading and not self.held:
                self._demote(f"could not renew within {self.timing.renew_deadline:.0f}s")
            # client-go jitters acquisition (factor 1.2), not renewal
            pause = self.timing.retry_period * (1.0 if self.leading else 1.0 + 0.2 * random.random())
            if self.leading:
                pause = min(pause, max(0.0, self.valid_until - self.monotonic()))
            await asyncio.sleep(pause)

    async def _round(self) -> None:
        started = self.monotonic()
        budget = self.valid_until - started if self.leading else self.timing.retry_period
        try:
            # a hung renewal must not outlive the deadline: the loop has to notice the loss in time
            await wait_for(self._try(started), timeout=max(0.05, budget))
        except (ApiError, asyncio.TimeoutError) as exc:
            log.debug("lease %s/%s: round failed: %s", self.namespace, self.name, exc)

    async def _try(self, started: float) -> None:
        record = LeaseRecord.from_lease(await self.api.get_lease(self.namespace, self.name))
        if not record.same_as(self._observed):
            self._observed, self._observed_at = record, started
        self.holder = record.holder
        if self.leading and record.exists and record.holder != self.identity:
            self._demote(f"the lease is now held by {record.holder!r}")
            return
        if self.leading and self.extra_wait > 0 and record.wanted_by not in ("", self.identity):
            # Stop first (the fence closes now), release a round later, when in-flight writes are done.
            self._demote(f"handing it back to {record.wanted_by!r}")
            self._release_next = True
            return
        if self._release_next:
            self._release_next = False
            if record.holder == self.identity:
                await self._write(record, {**record.taken_by(self.identity, 1, datetime.now(timezone.utc)),
                                           "holderIdentity": ""})
            return
        if not may_take(record, self.identity, self._observed_at, started, self.timing.lease_duration, self.extra_wait):
            if self.preferred and record.exists and record.wanted_by != self.identity:
                await self._write(record, self._spec_of(record), wanted_by=self.identity)  # ask for it back
            return
        spec = record.taken_by(self.identity, int(self.timing.lease_duration), datetime.now(timezone.utc))
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": spec,
                "metadata": {"name": self.name, "namespace": self.namespace}}
        if record.exists:
            body["metadata"]["resourceVersion"] = record.resource_version
            written = await self.api.replace_lease(self.namespace, self.name, body)  # 409: someone was first
        else:
            written = await self.api.create_lease(self.namespace, body)  # 409: someone was first
        self._observed, self._observed_at = LeaseRecord.from_lease(written), started
        self.holder = self.identity
        self.valid_until = started + self.timing.renew_deadline
        if not self.leading:
            self.leading = True
            self.transitions += 1
            log.info("lease %s/%s: acquired by %s", self.namespace, self.name, self.identity)
            self.on_change()

    @staticmethod
    def _spec_of(record: LeaseRecord) -> dict[str, Any]:
        return {"holderIdentity": record.holder, "leaseDurationSeconds": record.duration_seconds,
                "acquireTime": record.acquire_time, "renewTime": record.renew_time,
                "leaseTransitions": record.transitions}

    async def _write(self, record: LeaseRecord, spec: dict[str, Any], wanted_by: str = "") -> dict[str, Any]:
        """Replace the Lease as read (409 if it changed since); the hand-back annotation only if given."""
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace, "resourceVersion": record.resource_version}
        if wanted_by:
            meta["annotations"] = {WANTED_BY: wanted_by}
        return await self.api.replace_lease(self.namespace, self.name, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {k: v for k, v in spec.items() if v is not None}})

    def _demote(self, why: str) -> None:
        self.valid_until = 0.0
        self.leading = False
        log.warning("lease %s/%s: leadership lost (%s); stopping work", self.namespace, self.name, why)
        self.on_change()

    async def release(self) -> None:
        """Hand the lease over at once on a clean stop (client-go's ReleaseOnCancel): holder cleared."""
        was_held = self.held
        self.valid_until, self.leading = 0.0, False
        if not was_held:
            return
        try:
            record = LeaseRecord.from_lease(await self.api.get_lease(self.namespace, self.name))
            if record.holder != self.identity or not record.exists:
                return
            await self._write(record, {**record.taken_by(self.identity, 1, datetime.now(timezone.utc)), "holderIdentity": ""})
            log.info("lease %s/%s: released by %s", self.namespace, self.name, self.identity)
        except (ApiError, asyncio.TimeoutError) as exc:
            log.warning("lease %s/%s: could not release (%s); the standby takes over when it expires",
                        self.namespace, self.name, exc)
