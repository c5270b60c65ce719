"""The work queue: deduplication, FIFO order, one worker per key, delayed adds, stopping."""

from __future__ import annotations

import asyncio

import pytest

from kuberun_operator.workqueue import WorkQueue

A, B, C = ("ns", "a"), ("ns", "b"), ("ns", "c")


async def drain(queue: WorkQueue) -> list[tuple[str, str]]:
    """Every key ready now, in the order handed out (each marked done)."""
    got = []
    while queue.depth():
        key = await queue.get()
        got.append(key)
        queue.done(key)
    return got


async def test_a_key_added_while_queued_is_queued_once():
    queue = WorkQueue()
    for key in (A, B, A, A, C, B):
        queue.add(key)
    assert queue.depth() == 3
    assert await drain(queue) == [A, B, C]  # first-added first


async def test_a_key_added_while_being_reconciled_is_handed_out_again_only_after_done():
    queue = WorkQueue()
    queue.add(A)
    key = await queue.get()
    queue.add(A)  # a change seen mid-reconcile
    queue.add(A)
    assert queue.depth() == 0  # never to a second worker while the first holds it
    queue.done(key)
    assert await drain(queue) == [A]  # once, however often it was added meanwhile
    assert queue.depth() == 0


async def test_a_key_done_without_news_is_not_handed_out_again():
    queue = WorkQueue()
    queue.add(A)
    queue.done(await queue.get())
    assert queue.depth() == 0


@pytest.mark.parametrize("workers", [1, 2, 4])
async def test_concurrent_workers_never_hold_the_same_key_at_once(workers):
    queue = WorkQueue()
    holding: set[tuple[str, str]] = set()
    overlaps, handled = [], []

    async def worker() -> None:
        while True:
            key = await queue.get()
            if key in holding:
                overlaps.append(key)
            holding.add(key)
            await asyncio.sleep(0)  # let the others run while this key is held
            if len(handled) < 20:
                queue.add(key)  # re-added mid-reconcile: handed out again only after done
            handled.append(key)
            holding.discard(key)
            queue.done(key)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    for key in (A, B, A, B):
        queue.add(key)
    for _ in range(200):  # bounded: until the re-adds have played out
        if len(handled) >= 20 and queue.depth() == 0 and not holding:
            break
        await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert overlaps == [] and len(handled) >= 20
    assert set(handled) == {A, B}


async def test_the_number_of_keys_in_progress_is_bounded_by_the_workers():
    queue = WorkQueue()
    active, peak = 0, 0
    release = asyncio.Event()

    async def worker() -> None:
        nonlocal active, peak
        while True:
            key = await queue.get()
            active += 1
            peak = max(peak, active)
            await release.wait()
            active -= 1
            queue.done(key)

    tasks = [asyncio.create_task(worker()) for _ in range(2)]
    for i in range(6):
        queue.add(("ns", f"e{i}"))
    for _ in range(50):
        await asyncio.sleep(0)
    assert peak == 2 and queue.depth() == 4  # two held, four waiting
    release.set()
    for _ in range(50):
        if queue.depth() == 0 and active == 0:
            break
        await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert queue.depth() == 0 and peak == 2


async def test_add_after_keeps_only_the_earliest_timer_per_key():
    queue = WorkQueue()
    queue.add_after(A, 30.0)
    queue.add_after(A, 0.0)   # earlier: replaces the 30 s timer
    queue.add_after(A, 60.0)  # later than the pending one: ignored
    assert queue.due_in(A) < 1.0
    await asyncio.wait_for(queue.get(), 5)
    assert queue.due_in(A) is None  # the fired timer is gone and no later one waits
    queue.close()


async def test_a_delayed_key_is_not_queued_before_its_time():
    queue = WorkQueue()
    queue.add_after(A, 30.0)
    await asyncio.sleep(0)
    assert queue.depth() == 0 and queue.due_in(A) > 25.0
    queue.close()


async def test_close_cancels_pending_timers():
    queue = WorkQueue()
    queue.add_after(A, 0.05)
    queue.add_after(B, 0.05)
    queue.close()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(queue.get(), 0.3)  # neither timer fires after close
    assert queue.depth() == 0
