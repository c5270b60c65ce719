"""``wait_for``: ``asyncio.wait_for`` without losing a cancellation (Python 3.10 and 3.11).

Why: before 3.12, ``asyncio.wait_for`` returns the awaited result when a cancellation arrives in
the same loop step as that result, and the cancellation is gone (CPython gh-86296). A loop such as
``while True: await wait_for(event.wait(), t)`` then never ends when it is cancelled just as the
event is set: a ``stop()`` that cancels and gathers its workers hangs forever. That is how a
recorder's retry queue hung a test, and how any of our background loops (watches, pollers,
elections) could hang a shutdown. This version waits with ``asyncio.wait``, which always lets the
caller's cancellation through; from 3.12 on, the standard one is used.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """Await ``aw`` for at most ``timeout`` seconds (None: no limit); ``asyncio.TimeoutError`` after.

    On timeout ``aw`` is cancelled and waited for; if it finished meanwhile its result is returned
    (nothing it took, such as a queue item, is lost). A cancellation of the caller always propagates.
    """
    if sys.version_info >= (3, 12):
        return await asyncio.wait_for(aw, timeout)
    task = asyncio.ensure_future(aw)
    if timeout is None:
        return await task
    try:
        done, _ = await asyncio.wait({task}, timeout=max(timeout, 0))
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        await asyncio.wait({task})  # (raises only for the caller's own cancellation)
        if task.cancelled():
            raise asyncio.TimeoutError
    return task.result()
