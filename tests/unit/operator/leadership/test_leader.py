"""Leadership: the controller runs only while a lease is held, reconciles only its shards, writes only when held."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kuberun_operator.leadership import Leadership, NotLeader, Timing, shard_of
from kuberun_operator.leadership.fence import SHARD
from tests.unit.operator.leadership.fakes import FakeClock, FakeLeases

TIMING = Timing(lease_duration=15.0, renew_deadline=10.0, retry_period=2.0)


class FakeController:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.experiments: dict[tuple[str, str], dict[str, Any]] = {("ns", "x"): {}, ("ns", "y"): {}}
        self.queued: list[tuple[str, str]] = []
        self.queue = self

    def add(self, key: tuple[str, str]) -> None:
        self.queued.append(key)

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")

    def health(self) -> tuple[bool, str]:
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        return True, "ready"


def _leadership(api: FakeLeases, clock: FakeClock, identity: str, shards: int = 1, index: int = 0) -> Leadership:
    lead = Leadership(FakeController(), api, namespace="ns", name="op", identity=identity, timing=TIMING,
                      shards=shards, shard_index=index)
    for e in lead.electors:
        e.monotonic, e._observed_at = clock, clock()
    return lead


async def _settle(lead: Leadership) -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_controller_starts_on_acquire_and_stops_when_the_lease_is_lost():
    api, clock = FakeLeases(), FakeClock()
    lead = _leadership(api, clock, "a")
    lead._wake = asyncio.Event()
    supervisor = asyncio.create_task(lead._supervise())
    try:
        assert lead.readiness() == (True, "standby (leases held by nobody yet)")
        await lead.electors[0]._round()
        await _settle(lead)
        assert lead.controller.calls == ["start"]
        assert sorted(lead.controller.queued) == [("ns", "x"), ("ns", "y")], "every cached Experiment is decided again"
        api.down = True
        clock.now += 10.5
        await lead.electors[0]._round()
        lead.electors[0]._demote("test")  # what run() does once held is False
        await _settle(lead)
        assert lead.controller.calls == ["start", "stop"]
        assert lead.running == frozenset()
    finally:
        supervisor.cancel()


async def test_writes_are_fenced_by_the_lease_of_the_experiment_being_reconciled():
    api, clock = FakeLeases(), FakeClock()
    lead = _leadership(api, clock, "a", shards=2, index=0)
    await lead.electors[0]._round()
    await lead.electors[1]._round()  # shard 1 belongs to another replica: a fallback waits
    assert lead.held() == [0]
    mine = next({"metadata": {"uid": f"u{i}"}} for i in range(100) if shard_of(f"u{i}", 2) == 0)
    theirs = next({"metadata": {"uid": f"u{i}"}} for i in range(100) if shard_of(f"u{i}", 2) == 1)

    async def reconcile(body: dict[str, Any]) -> bool:  # each reconcile runs in its own task, as a worker's would
        if not lead.admit(body):
            return False
        await asyncio.to_thread(lead.check)  # the fence runs on the thread that sends the write
        return True

    assert await asyncio.create_task(reconcile(mine))
    assert not await asyncio.create_task(reconcile(theirs))
    token = SHARD.set(1)
    try:
        with pytest.raises(NotLeader, match="op-shard-1"):
            lead.check()
    finally:
        SHARD.reset(token)
    clock.now += 10.1  # no renewal: the fence closes for shard 0 too
    token = SHARD.set(0)
    try:
        with pytest.raises(NotLeader):
            await asyncio.to_thread(lead.check)
    finally:
        SHARD.reset(token)


def test_shards_are_stable_and_spread():
    uids = [f"3f2c{i:04d}-uid" for i in range(1000)]
    counts = [0, 0, 0]
    for uid in uids:
        assert shard_of(uid, 3) == shard_of(uid, 3)
        counts[shard_of(uid, 3)] += 1
    assert min(counts) > 250, counts  # ~333 each
    assert {shard_of(u, 1) for u in uids} == {0}


def test_shard_index_must_be_a_shard():
    with pytest.raises(ValueError, match=r"not in 0\.\.1"):
        Leadership(FakeController(), FakeLeases(), namespace="ns", name="op", identity="a", timing=TIMING,
                   shards=2, shard_index=2)


def test_lease_names():
    lead = Leadership(FakeController(), FakeLeases(), namespace="ns", name="op", identity="a", timing=TIMING, shards=3)
    assert [e.name for e in lead.electors] == ["op-shard-0", "op-shard-1", "op-shard-2"]
    assert [e.extra_wait for e in lead.electors] == [0.0, 15.0, 15.0]
    single = Leadership(FakeController(), FakeLeases(), namespace="ns", name="op", identity="a", timing=TIMING)
    assert [e.name for e in single.electors] == ["op"]
