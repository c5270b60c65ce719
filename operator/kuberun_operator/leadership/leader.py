"""Run the controller only while this replica holds a lease; stop it within the deadline when lost.

One ``Elector`` per shard (one in plain active/standby). Whenever the set of leases held changes,
the controller is stopped — its workers, its resync timer, the backends' pollers (Slurm's
squeue loop), its pending requeue timers — and started again if any lease is still held, with
every cached Experiment queued (level-triggered: whatever the last holder left half-done is
decided again from the record). kopf's watches keep running on a standby, so its cache is warm
when it takes over. The controller asks ``admit`` before each reconcile (is this Experiment's
shard held?) and the API client asks ``check`` before each write (``fence.py``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kuberun_operator.leadership.elector import Elector, LeaseApi, Timing
from kuberun_operator.leadership.fence import SHARD, NotLeader
from kuberun_operator.leadership.shards import lease_name, shard_of_body

log = logging.getLogger("kuberun.operator.leadership")


class Leadership:
    def __init__(self, controller: Any, api: LeaseApi, *, namespace: str, name: str, identity: str,
                 timing: Timing, shards: int = 1, shard_index: int = 0, metrics: Any = None) -> None:
        if shards < 1 or not 0 <= shard_index < shards:
            raise ValueError(f"shard index {shard_index} is not in 0..{shards - 1}")
        self.controller, self.identity, self.shards, self.metrics = controller, identity, shards, metrics
        # The replicas a shard belongs to campaign for it at once; the others are its fallback: they
        # wait one more lease duration, and hand it back when its owner asks (elector.py).
        self.electors = [Elector(api, namespace, lease_name(name, i, shards), identity, timing,
                                 extra_wait=0.0 if shards == 1 or i == shard_index else timing.lease_duration,
                                 preferred=shards > 1 and i == shard_index, on_change=self._changed)
                         for i in range(shards)]
        self.running: frozenset[int] = frozenset()  # shards the controller was last started for
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- what the controller and the API client ask -----------------------------------------------

    def admit(self, body: dict[str, Any]) -> bool:
        """Whether to reconcile ``body`` now; also marks the reconcile's writes as this shard's."""
        shard = shard_of_body(body, self.shards)
        SHARD.set(shard)
        return self.electors[shard].held

    def check(self) -> None:
        """Raise NotLeader unless the lease of the write under way is held right now."""
        shard = SHARD.get()
        if shard is None:
            if not any(e.held for e in self.electors):
                raise NotLeader("any shard")
        elif not self.electors[shard].held:
            raise NotLeader(self.electors[shard].name)

    def held(self) -> list[int]:
        return [i for i, e in enumerate(self.electors) if e.held]

    # -- running ------------------------------------------------------------------------------------

    def _changed(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(e.run(), name=f"kuberun-lease-{e.name}") for e in self.electors]
        self._tasks.append(asyncio.create_task(self._supervise(), name="kuberun-leadership"))

    async def _supervise(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            want = frozenset(i for i, e in enumerate(self.electors) if e.leading)
            if self.metrics is not None:
                for i, e in enumerate(self.electors):
                    self.metrics.leader.labels(e.name).set(1 if i in want else 0)
            if want == self.running:
                continue
            if self.running:
                await self.controller.stop()
            self.running = want
            if want:
                await self.controller.start()
                for key in list(self.controller.experiments):
                    self.controller.queue.add(key)
            log.info("%s leads shards %s", self.identity, sorted(want) or "none (standby)")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.running:
            await self.controller.stop()
            self.running = frozenset()
        await asyncio.gather(*(e.release() for e in self.electors), return_exceptions=True)

    def health(self) -> tuple[bool, str]:
        dead = [t.get_name() for t in self._tasks if t.done()]
        if dead:
            return False, f"leader election tasks ended: {', '.join(dead)}"
        if self.running:
            return self.controller.health()
        return True, "standby"

    def readiness(self) -> tuple[bool, str]:
        ok, reason = self.health()
        if not ok or self.running:
            return self.controller.readiness() if ok else (ok, reason)
        holders = sorted({e.holder for e in self.electors if e.holder})
        return True, f"standby (leases held by {', '.join(holders) or 'nobody yet'})"
