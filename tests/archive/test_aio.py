"""AsyncArchive: the archive from the operator's event loop, which it never blocks."""

from __future__ import annotations

import asyncio

from kuberun_operator.archive import AsyncArchive

from .builders import T0, event, experiment


async def test_async_archive_records_and_reads_back_concurrently(archive_url: str) -> None:
    archive = await AsyncArchive.open(archive_url)
    try:
        objs = [experiment(f"e{i}") for i in range(8)]
        # The loop keeps turning while a record is in flight (a blocking call would finish first).
        first = asyncio.ensure_future(archive.record(objs[0], [event("ev0", "Created", T0)]))
        await asyncio.sleep(0)
        turns = 0
        while not first.done() and turns < 10**7:
            turns += 1
            await asyncio.sleep(0)
        await first
        assert turns > 0
        await asyncio.gather(*(archive.record(o, [event(f"ev{i}", "Created", T0)]) for i, o in enumerate(objs)))
        items, token = await archive.query(namespace="team-a", limit=5)
        assert len(items) == 5 and token is not None
        rest, end = await archive.query(namespace="team-a", limit=5, continue_token=token)
        assert end is None and {i.uid for i in items + rest} == {o["metadata"]["uid"] for o in objs}
        uid = objs[0]["metadata"]["uid"]
        got = await archive.get("team-a", "e0")
        assert got is not None and got.uid == uid and (await archive.get_uid(uid)) == got
        assert await archive.record_metrics(uid, "main", 0, ({"name": "loss", "step": s, "value": 0.1} for s in range(3))) == 3
        assert [p.step for p in await archive.metrics(uid)] == [0, 1, 2]
        await archive.record_location(uid, "main", 0, "log", "file:///logs/main-0.log", 10)
        assert [x.url for x in await archive.locations(uid)] == ["file:///logs/main-0.log"]
    finally:
        await archive.close()
