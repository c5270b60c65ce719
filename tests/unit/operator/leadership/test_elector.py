"""The election rules, round by round on a fake clock: who may take the lease, when the leader must stop."""

from __future__ import annotations

import pytest

from kuberun_operator.leadership import Elector, Timing
from kuberun_operator.leadership.record import LeaseRecord, may_take
from tests.unit.operator.leadership.fakes import FakeClock, FakeLeases

TIMING = Timing(lease_duration=15.0, renew_deadline=10.0, retry_period=2.0)


def _pair(api: FakeLeases, clock: FakeClock, extra_wait: float = 0.0) -> tuple[Elector, Elector]:
    a = Elector(api, "ns", "lease", "a", TIMING, monotonic=clock)
    b = Elector(api, "ns", "lease", "b", TIMING, extra_wait=extra_wait, monotonic=clock)
    return a, b


async def test_first_candidate_creates_the_lease_and_the_second_waits():
    api, clock = FakeLeases(), FakeClock()
    a, b = _pair(api, clock)
    await a._round()
    await b._round()
    assert (a.held, b.held) == (True, False)
    assert api.holder("lease") == "a" and b.holder == "a"
    assert api.leases[("ns", "lease")]["spec"]["leaseDurationSeconds"] == 15


async def test_a_live_leader_keeps_the_lease_however_long_it_runs():
    api, clock = FakeLeases(), FakeClock()
    a, b = _pair(api, clock)
    await a._round()
    await b._round()
    for _ in range(20):  # 40 s of renewals every 2 s: always fresh to the standby
        clock.now += 2
        await a._round()
        await b._round()
    assert (a.held, b.held) == (True, False)
    assert a.transitions == 1


async def test_standby_takes_over_one_lease_duration_after_the_leader_went_silent():
    api, clock = FakeLeases(), FakeClock()
    a, b = _pair(api, clock)
    await a._round()
    await b._round()  # b sees a's record now
    clock.now += 14.9
    await b._round()
    assert not b.held, "taken before the lease duration passed"
    clock.now += 0.2
    await b._round()
    assert b.held and api.holder("lease") == "b"
    assert api.leases[("ns", "lease")]["spec"]["leaseTransitions"] == 1


async def test_the_leader_stops_at_its_renew_deadline_when_renewals_fail():
    api, clock = FakeLeases(), FakeClock()
    a, _ = _pair(api, clock)
    await a._round()
    api.down = True
    clock.now += 9.9
    await a._round()
    assert a.held, "a leader may act until its deadline"
    clock.now += 0.2
    assert not a.held, "past the renew deadline the fence must close, whatever the loop does"


async def test_the_deadline_comes_before_anyone_else_may_take_the_lease():
    # the invariant that makes two leaders impossible: renew deadline < lease duration
    api, clock = FakeLeases(), FakeClock()
    a, b = _pair(api, clock)
    await a._round()
    await b._round()
    stopped_at = a.valid_until
    while not b.held:
        clock.now += 0.5
        await b._round()
    assert clock.now - stopped_at >= TIMING.lease_duration - TIMING.renew_deadline


async def test_a_demoted_leader_that_sees_another_holder_stops_at_once():
    api, clock = FakeLeases(), FakeClock()
    a, b = _pair(api, clock)
    await a._round()
    await b._round()
    clock.now += 16  # a was paused (GC, SIGSTOP) past its lease; b took over
    await b._round()
    assert b.held
    changes: list[str] = []
    a.on_change = lambda: changes.append("a")
    a.valid_until = clock.now + 5  # pretend a still believed itself leader
    await a._round()
    assert not a.held and changes == ["a"]


async def test_a_fallback_candidate_waits_one_more_lease_duration():
    api, clock = FakeLeases(), FakeClock()
    a, b = _pair(api, clock, extra_wait=15.0)
    await a._round()
    await b._round()
    clock.now += 16
    await b._round()
    assert not b.held
    clock.now += 15
    await b._round()
    assert b.held


async def test_a_released_lease_is_taken_at_once():
    api, clock = FakeLeases(), FakeClock()
    a, b = _pair(api, clock)
    await a._round()
    await b._round()
    await a.release()
    assert api.holder("lease") == "" and not a.held
    clock.now += 0.1
    await b._round()
    assert b.held


def test_timing_refuses_a_deadline_that_could_overlap_the_next_leader():
    with pytest.raises(ValueError, match="renew deadline < lease duration"):
        Timing(lease_duration=10, renew_deadline=10, retry_period=2)


def test_may_take_judges_by_local_observation_not_the_holders_clock():
    # renewTime far in the past (a skewed clock) does not matter: only how long it stayed unchanged here
    record = LeaseRecord(holder="a", duration_seconds=15, renew_time="2000-01-01T00:00:00.000000Z", resource_version="7")
    assert not may_take(record, "b", observed_at=100.0, now=101.0, duration=15.0)
    assert may_take(record, "b", observed_at=100.0, now=115.0, duration=15.0)
    assert may_take(record, "a", observed_at=100.0, now=100.0, duration=15.0)


async def test_a_fallback_holder_hands_the_shard_back_when_its_owner_asks():
    api, clock = FakeLeases(), FakeClock()
    fallback = Elector(api, "ns", "shard-1", "a", TIMING, extra_wait=15.0, monotonic=clock)
    owner = Elector(api, "ns", "shard-1", "b", TIMING, preferred=True, monotonic=clock)
    await fallback._round()
    clock.now += 15.1
    await fallback._round()  # the lease was absent for a lease duration: the fallback takes it
    assert fallback.held
    await owner._round()  # the owner starts: it cannot take a live lease, so it asks for it back
    assert not owner.held
    assert api.leases[("ns", "shard-1")]["metadata"]["annotations"] == {"kuberun.dev/wanted-by": "b"}
    clock.now += 2
    await fallback._round()
    assert not fallback.held, "the fallback stops at once when asked"
    assert api.holder("shard-1") == "a", "and releases only a round later, after its in-flight writes"
    clock.now += 2
    await fallback._round()
    assert api.holder("shard-1") == ""
    await owner._round()
    assert owner.held and api.holder("shard-1") == "b"
    assert "annotations" not in api.leases[("ns", "shard-1")]["metadata"]
    clock.now += 2
    await fallback._round()
    assert not fallback.held


async def test_plain_active_standby_never_hands_back():
    api, clock = FakeLeases(), FakeClock()
    a, b = _pair(api, clock)
    await a._round()
    await b._round()
    assert "annotations" not in api.leases[("ns", "lease")]["metadata"]
