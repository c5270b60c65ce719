"""``kuberun.aiowait.wait_for``: a cancellation that races the awaited result is never lost (the
stdlib's loses it before 3.12: a loop around it then survives its own cancel and a stop() hangs)."""

from __future__ import annotations

import asyncio

import pytest

from kuberun.aiowait import wait_for

pytestmark = pytest.mark.asyncio


async def _loop_until_cancelled(event: asyncio.Event) -> None:
    while True:  # the shape of the retry queue's runner, the Slurm poller, the watch loops
        await wait_for(event.wait(), 10)
        event.clear()


async def test_a_cancel_in_the_same_step_as_the_result_still_cancels_the_loop():
    for _ in range(50):  # the race is deterministic: set and cancel before the loop runs again
        event = asyncio.Event()
        task = asyncio.create_task(_loop_until_cancelled(event))
        await asyncio.sleep(0)
        event.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done and task.cancelled()


async def test_the_result_in_time_a_timeout_after_and_the_awaited_cancelled_on_timeout():
    assert await wait_for(asyncio.sleep(0, result="ok"), 1) == "ok"
    slow = asyncio.ensure_future(asyncio.sleep(30))
    with pytest.raises(asyncio.TimeoutError):
        await wait_for(slow, 0.05)
    assert slow.cancelled()
    assert await wait_for(asyncio.sleep(0, result=3), None) == 3


async def test_a_queue_item_taken_as_the_timeout_fires_is_returned_not_lost():
    queue: asyncio.Queue[int] = asyncio.Queue()
    queue.put_nowait(7)
    assert await wait_for(queue.get(), 0) == 7 or queue.qsize() == 1  # taken and returned, or left in the queue
