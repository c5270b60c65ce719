"""Fault injection over HTTP (``/_sandbox/faults``): status codes, delays, dropped watches and
dropped answers, set by the administrator only — what the chaos suite uses on a subprocess server."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from tests.helpers.auth import client_ssl
from tests.helpers.widgets import GROUP, PLURAL, VERSION, widget

pytestmark = pytest.mark.asyncio(loop_scope="session")

WIDGETS = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"
FAULTS = "/_sandbox/faults"



async def test_a_status_fault_set_over_http_answers_then_recovers(server: Any) -> None:
    _, http = server
    resp = await http.post(FAULTS, json={"status": 409, "times": 2, "verb": "create", "resource": PLURAL})
    assert resp.status == 201
    fault = await resp.json()
    answers = [await http.post(WIDGETS, json=widget(f"w{i}")) for i in range(3)]
    assert [r.status for r in answers] == [409, 409, 201]
    assert (await answers[0].json())["reason"] == "Conflict"
    listed = (await (await http.get(FAULTS)).json())["items"]
    assert [(f["id"], f["hits"], f["times"]) for f in listed] == [(fault["id"], 2, 0)]


async def test_a_delay_fault_slows_matching_requests_only(server: Any) -> None:
    _, http = server
    await http.post(WIDGETS, json=widget("slow"))
    await http.post(FAULTS, json={"status": None, "times": 1, "delay": 0.6, "verb": "get", "name": "slow"})
    t0 = time.monotonic()
    slow = await http.get(f"{WIDGETS}/slow")
    slow_took = time.monotonic() - t0
    t0 = time.monotonic()
    fast = await http.get(f"{WIDGETS}/slow")
    fast_took = time.monotonic() - t0
    assert (slow.status, fast.status) == (200, 200)  # delayed, then served
    assert slow_took >= 0.6 and fast_took < slow_took  # the delay is the fault's floor; the next one has none


async def test_dropping_watches_ends_open_streams_mid_way(server: Any) -> None:
    srv, http = server
    srv.bookmark_interval = 0.2  # how often an idle watch looks at its connection
    resp = await http.get(WIDGETS, params={"watch": "1"})
    assert resp.status == 200
    await http.post(WIDGETS, json=widget("before-drop"))
    first = json.loads(await asyncio.wait_for(resp.content.readline(), 5))
    assert first["object"]["metadata"]["name"] == "before-drop"
    dropped = await (await http.post("/_sandbox/watches/drop")).json()
    assert dropped == {"dropped": 1}
    with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientConnectionError)):
        while True:  # the stream ends with no final event: a reset, not an orderly end of the chunks
            line = await asyncio.wait_for(resp.content.readline(), 5)
            assert line != b"", "the dropped watch ended orderly"
    for _ in range(100):  # the server notices at its next idle check, and forgets the watch
        if not srv._watch_requests:
            break
        await asyncio.sleep(0.05)
    assert not srv._watch_requests


async def test_a_drop_fault_on_a_watch_cuts_it_after_the_given_time(server: Any) -> None:
    _, http = server
    await http.post(FAULTS, json={"status": None, "times": 1, "verb": "watch", "resource": PLURAL, "drop_after": 0.3})
    resp = await http.get(WIDGETS, params={"watch": "1"})
    with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientConnectionError)):
        while True:
            line = await asyncio.wait_for(resp.content.readline(), 5)
            assert line != b"", "the dropped watch ended orderly"


async def test_a_drop_fault_on_a_write_applies_it_and_loses_the_answer(server: Any) -> None:
    _, http = server
    await http.post(FAULTS, json={"status": None, "verb": "create", "resource": PLURAL, "drop_after": 0})
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientConnectionError)):
        await (await http.post(WIDGETS, json=widget("unanswered"))).read()
    assert (await http.get(f"{WIDGETS}/unanswered")).status == 200  # applied: the client must not assume otherwise


async def test_probability_faults_replay_from_their_seed(server: Any) -> None:
    _, http = server

    async def pattern() -> list[int]:
        await http.delete(FAULTS)
        await http.post(f"{FAULTS}/seed", json={"seed": 1234})
        await http.post(FAULTS, json={"status": 500, "times": None, "verb": "list", "probability": 0.5})
        return [(await http.get(WIDGETS)).status for _ in range(16)]

    first, second = await pattern(), await pattern()
    assert first == second and set(first) == {200, 500}  # the same draws, and both outcomes occur


async def test_clearing_faults_over_http(server: Any) -> None:
    _, http = server
    one = await (await http.post(FAULTS, json={"status": 500, "times": None, "verb": "list"})).json()
    await http.post(FAULTS, json={"status": 503, "times": None, "verb": "get"})
    assert (await http.delete(f"{FAULTS}/{one['id']}")).status == 200
    assert (await http.get(WIDGETS)).status == 200
    assert await (await http.delete(FAULTS)).json() == {"deleted": 1}
    assert (await http.get(f"{WIDGETS}/none")).status == 404  # the get fault is gone too
    assert (await http.delete(f"{FAULTS}/{one['id']}")).status == 404


@pytest.mark.parametrize("body, words", [
    ({"status": 200}, "400-599"), ({"status": None}, "needs a status"), ({"times": "x"}, "wrong type"),
    ({"bogus": 1}, "unknown fault fields: bogus"), ({"probability": 2}, "between 0 and 1"), ([1], "JSON object"),
])
async def test_a_bad_fault_is_refused_with_the_reason(server: Any, body: Any, words: str) -> None:
    _, http = server
    resp = await http.post(FAULTS, json=body)
    assert resp.status == 400 and words in (await resp.json())["message"]


async def test_only_the_administrator_may_inject(server: Any) -> None:
    srv, _ = server
    srv.inject(status=500, times=None)  # the admin route is never faulted itself
    token = srv.auth.mint("mallory", ("developers",))
    async with aiohttp.ClientSession(srv.url, connector=aiohttp.TCPConnector(ssl=client_ssl(srv)),
                                     headers={"Authorization": f"Bearer {token}"}) as other:
        refused = await other.post(FAULTS, json={"status": 500})
        assert refused.status == 403
    async with aiohttp.ClientSession(srv.url, connector=aiohttp.TCPConnector(ssl=client_ssl(srv))) as anonymous:
        assert (await anonymous.get(FAULTS)).status == 401
    srv.faults.clear()
    assert len(srv.faults) == 0 and srv.faultset.faults == []


async def test_a_fault_can_single_out_one_client_by_its_user_agent(server: Any) -> None:
    _, http = server
    await http.post(FAULTS, json={"status": 503, "times": None, "verb": "list", "user_agent": "kuberun-operator/"})
    assert (await http.get(WIDGETS, headers={"User-Agent": "kuberun-operator/0.1.0"})).status == 503
    assert (await http.get(WIDGETS, headers={"User-Agent": "kubectl/v1.35"})).status == 200
