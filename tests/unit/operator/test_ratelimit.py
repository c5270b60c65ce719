"""The polite client: which answers are retried and after how long, and the QPS/burst bucket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kuberun_operator.kube import ApiError, Kube
from kuberun_operator.ratelimit import ClientLimits, Politeness, retry_after_seconds


class Recorder:
    def __init__(self) -> None:
        self.throttles: list[tuple[str, float]] = []
        self.retries: list[tuple[str, str, int]] = []

    def throttled(self, by: str, seconds: float) -> None:
        self.throttles.append((by, seconds))

    def api_retry(self, verb: str, resource: str, code: int) -> None:
        self.retries.append((verb, resource, code))


def test_retry_after_is_read_as_seconds_or_a_date_and_capped():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("100000") == 60.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_which_answers_are_retried():
    polite = Politeness(ClientLimits(max_retries=3), Recorder())
    assert polite.retry_delay("create", "jobs", 429, 2.0, 0) == 2.0  # the server's Retry-After, exactly
    assert 0 <= polite.retry_delay("patch", "experiments/status", 503, None, 0) <= 0.2
    assert 0 <= polite.retry_delay("get", "jobs", 500, None, 2) <= 0.8  # full jitter up to base * 2**attempt
    assert polite.retry_delay("create", "events", 500, None, 0) is None  # generateName: may have been stored
    assert polite.retry_delay("create", "events", 429, 1.0, 0) == 1.0  # a 429 was not processed: safe
    assert polite.retry_delay("patch", "experiments/status", 409, None, 0) is None
    assert polite.retry_delay("get", "jobs", 404, None, 0) is None
    assert polite.retry_delay("get", "jobs", 503, None, 3) is None  # bounded
    assert polite.metrics.retries == [("create", "jobs", 429), ("patch", "experiments/status", 503), ("get", "jobs", 500),
                                      ("create", "events", 429)]
    assert [by for by, _ in polite.metrics.throttles] == ["server", "server"]


def test_backoff_never_exceeds_its_cap():
    polite = Politeness(ClientLimits(max_retries=50, base_backoff=1.0, max_backoff=4.0))
    assert max(polite.retry_delay("get", "jobs", 500, None, n) for n in range(40)) <= 4.0


def test_limits_are_checked():
    with pytest.raises(ValueError):
        ClientLimits(qps=-1)
    with pytest.raises(ValueError):
        ClientLimits(burst=0)


async def test_requests_beyond_the_burst_wait_and_are_counted():
    recorder = Recorder()
    polite = Politeness(ClientLimits(qps=10.0, burst=5), recorder)
    for _ in range(5):
        await polite.wait_turn()
    assert recorder.throttles == [], "the burst passes at once"
    await asyncio.gather(*(polite.wait_turn() for _ in range(2)))  # beyond it: one token per 1/qps
    assert [by for by, _ in recorder.throttles] == ["client"] * 2
    assert all(seconds > 0 for _, seconds in recorder.throttles)


async def test_no_limit_at_zero_qps():
    recorder = Recorder()
    polite = Politeness(ClientLimits(qps=0), recorder)
    await asyncio.gather(*(polite.wait_turn() for _ in range(1000)))
    assert recorder.throttles == []


class _Answer:
    """A urllib3 response as ``kuberun.api.Kube.send`` returns it."""

    def __init__(self, status: int, retry_after: str | None = None, data: bytes = b'{"message": "slow down"}') -> None:
        self.status, self.reason, self.data = status, "x", data
        self.headers = {"Retry-After": retry_after} if retry_after else {}


class _Api:
    """The SDK client's ``send``, answering from a list (and recording what was sent)."""

    def __init__(self, answers: list[_Answer]) -> None:
        self.answers, self.sent = answers, []

    def send(self, method: str, path: str, **kwargs: Any) -> _Answer:
        self.sent.append((method, path))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def test_kube_retries_a_429_after_retry_after_then_succeeds(monkeypatch: Any):
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("kuberun_operator.kube.asyncio.sleep", fake_sleep)
    api = _Api([_Answer(429, "2"), _Answer(503), _Answer(201, data=b'{"ok": true}')])
    calls: list[tuple[str, str, int]] = []
    kube = Kube(api=api, on_call=lambda v, r, c: calls.append((v, r, c)),
                polite=Politeness(ClientLimits(qps=0)))
    assert await kube._request("create", "jobs", "POST", "/apis/batch/v1/namespaces/n/jobs", {}) == {"ok": True}
    assert api.sent == [("POST", "/apis/batch/v1/namespaces/n/jobs")] * 3
    assert slept[0] == 2.0 and 0 <= slept[1] <= 0.4
    assert [c for _, _, c in calls] == [429, 503, 200]


async def test_kube_gives_up_after_max_retries_with_the_servers_error():
    api = _Api([_Answer(500)])
    kube = Kube(api=api, polite=Politeness(ClientLimits(qps=0, max_retries=2, base_backoff=0.001)))
    with pytest.raises(ApiError) as err:
        await kube._request("get", "jobs", "GET", "/apis/batch/v1/namespaces/n/jobs/j")
    assert err.value.status == 500 and err.value.message == "slow down" and len(api.sent) == 3


async def test_the_fence_stops_writes_but_not_reads():
    from kuberun_operator.leadership import NotLeader

    def fence() -> None:
        raise NotLeader("lease")

    sent: list[str] = []
    kube = Kube(api=None, fence=fence)
    assert await kube._call("get", "jobs", lambda: sent.append("get") or {}) == {}
    with pytest.raises(NotLeader):
        await kube._call("create", "jobs", lambda: sent.append("create"))
    assert sent == ["get"]
