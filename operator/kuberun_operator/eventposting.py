"""Posting an Experiment's Events: in the background, in order, combined, and Warnings not repeated.

Events are informative: a reconcile never waits for one, so posting runs beside the worker. Two
things keep what they say true. Each Experiment's batches go out one after the other, in the order
of the transitions they report (concurrent posts would land out of order). And a batch is combined
as client-go's ``EventAggregator`` combines (``eventbatch.coalesce``): a wide fan-out posts a few
Events, not 1,000. The same Warning on the same Experiment goes out at most every ``WARNING_EVERY``,
so a condition that lasts (an unreachable archive, an unknown field) does not flood the namespace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from kuberun_operator.actions import Event
from kuberun_operator.eventbatch import coalesce
from kuberun_operator.workqueue import Key

__all__ = ["WARNING_EVERY", "EventPoster", "EventSink"]

EventSink = Callable[[dict[str, Any], Event], Awaitable[None]]
WARNING_EVERY = timedelta(minutes=5)  # the same Warning on the same Experiment at most this often


class EventPoster:
    """``post(body, events)`` and ``warn(body, event)`` return at once; ``drain()`` waits for what is in flight."""

    def __init__(self, send: EventSink, now: Callable[[], datetime]) -> None:
        self._send, self._now = send, now
        self._in_flight: set[asyncio.Future[None]] = set()
        self._warned: dict[tuple[Any, str, str], datetime] = {}
        self._latest: dict[Key, asyncio.Future[None]] = {}  # each Experiment's latest batch

    def warn(self, body: dict[str, Any], event: Event) -> None:
        self.post(body, [event])

    def post(self, body: dict[str, Any], events: list[Event]) -> None:
        events = coalesce([e for e in events if self._due(body, e)])
        if not events:
            return
        key = (body["metadata"].get("namespace", ""), body["metadata"].get("name", ""))
        before = self._latest.get(key)

        async def post_in_order() -> None:
            if before is not None:
                await asyncio.gather(before, return_exceptions=True)
            for event in events:
                await self._send(body, event)

        task = asyncio.ensure_future(post_in_order())
        self._latest[key] = task
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        task.add_done_callback(lambda t: self._latest.pop(key, None) if self._latest.get(key) is t else None)

    async def drain(self) -> None:
        """Wait for every batch in flight (at stop, and in tests); their failures are the sink's to log."""
        await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _due(self, body: dict[str, Any], event: Event) -> bool:
        """Normal Events always; the same Warning on the same Experiment at most every WARNING_EVERY."""
        if event.type != "Warning":
            return True
        key = (body["metadata"].get("uid"), event.reason, event.message)
        now = self._now()
        last = self._warned.get(key)
        if last is not None and now - last < WARNING_EVERY:
            return False
        self._warned[key] = now
        return True
