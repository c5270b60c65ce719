"""The controller's work queue: Experiment keys, deduplicated, each handed to one worker at a time.

The controller-runtime pattern: a key added while queued is not queued twice; a key added while
a worker holds it is marked dirty and queued again when that worker is done (so a change seen
mid-reconcile is never lost, and the same key is never reconciled concurrently); ``add_after``
keeps only the earliest pending timer per key.
"""

from __future__ import annotations

import asyncio

Key = tuple[str, str]


class WorkQueue:
    """Deduplicating delayed queue of keys (the controller-runtime pattern)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}

    def add(self, key: Key) -> None:
        if key in self._active:
            self._dirty.add(key)  # reconcile again once the running one ends
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        loop = asyncio.get_running_loop()
        timer = self._timers.get(key)
        due = loop.time() + delay
        if timer is not None and timer.when() <= due:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(due, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> Key:
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: Key) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def due_in(self, key: Key) -> float | None:
        """Seconds until ``key``'s pending delayed add fires, or None when none is pending."""
        timer = self._timers.get(key)
        return None if timer is None else timer.when() - asyncio.get_running_loop().time()

    def depth(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()  # a queue closed by a demoted leader is used again when it leads again
