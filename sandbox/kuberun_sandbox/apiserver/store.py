"""Object storage with one cluster-wide, monotonic resourceVersion and a bounded event history.

Why not kmock's storage: ``KubernetesEmulator`` keeps each object as a merge-everything history
of dicts (a create and a patch are the same deep merge), has no resourceVersion at all, and feeds
watches from an ``aiobus.Bus`` that has no history — so a watch cannot resume from a given
resourceVersion and events between the list snapshot and the subscription can be lost. Those are
exactly the semantics kopf and informers rely on, so the storage is written here: every mutation
gets the next resourceVersion, is appended to a bounded history and pushed to subscribers in the
same synchronous step (no ``await`` in between), which makes "snapshot + subscribe" atomic.

Durability (``durable.py``): with a data directory, each mutation is committed to SQLite *first*,
still in that synchronous step, and only then applied in memory, pushed to watches and answered.
So nothing a client or a watch has seen can be missing after a crash, the resourceVersion counter
never goes backwards across restarts, and a write that cannot be stored changes nothing (a 500).
The in-memory objects and history stay the read path; the database is the source on restart.
The history is not persisted: after a restart, watches from before it get 410 and relist.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import logging
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .durable import DurableState, Key, encode

logger = logging.getLogger(__name__)

__all__ = ["Event", "Key", "Store"]


@dataclass(frozen=True)
class Event:
    """One change, as a watch delivers it."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    group: str
    plural: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None  # the previous state, so watches can filter by selector


class Store:
    """In-memory objects + resourceVersion counter + event history + watch subscribers (+ durable state)."""

    def __init__(self, history_size: int = 10_000, data_dir: pathlib.Path | None = None,
                 sync: str | None = None) -> None:
        self._objects: dict[Key, dict[str, Any]] = {}
        self._rv = 1
        self._history: collections.deque[Event] = collections.deque(maxlen=history_size)
        self._compacted_rv = 0  # events at or below this RV are no longer in history
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._rv_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._durable = DurableState(data_dir, sync) if data_dir is not None else None

    # --- reading ---------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, key: Key) -> dict[str, Any] | None:
        obj = self._objects.get(key)
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Objects of one resource (all namespaces when ``namespace`` is None), ordered by ns/name."""
        return [copy.deepcopy(o) for o in self.list_refs(group, plural, namespace)]

    def list_refs(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Like ``list`` but the stored objects themselves: read-only (writes replace, never mutate)."""
        keys = sorted(k for k in self._objects
                      if k[0] == group and k[1] == plural and (namespace is None or k[2] == namespace))
        return [self._objects[k] for k in keys]

    def items(self) -> Iterator[tuple[Key, dict[str, Any]]]:
        yield from list(self._objects.items())

    # --- writing ---------------------------------------------------------------------------
    def put(self, key: Key, obj: dict[str, Any], event_type: str) -> dict[str, Any]:
        """Store ``obj`` under the next resourceVersion and emit the event; returns a copy."""
        rv = self._rv + 1
        body = encode({**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": str(rv)}})
        self._commit(rv, key, body)
        old = self._objects.get(key)
        # Copies by decoding what was stored: a read now is what a read after a restart gives.
        self._objects[key] = json.loads(body)
        self._emit(Event(rv, event_type, key[0], key[1], json.loads(body), old))
        return json.loads(body)

    def remove(self, key: Key) -> dict[str, Any]:
        """Delete the object; the DELETED event carries a new resourceVersion, as etcd's does."""
        current = self._objects[key]
        rv = self._rv + 1
        self._commit(rv, key, None)
        del self._objects[key]
        # A new dict: the removed one may still sit in a list snapshot being paged through.
        body = encode({**current, "metadata": {**current["metadata"], "resourceVersion": str(rv)}})
        self._emit(Event(rv, "DELETED", key[0], key[1], json.loads(body)))
        return json.loads(body)

    def _commit(self, rv: int, key: Key, body: str | None) -> None:
        """Durable before anything else sees the change; raises (a 500) and changes nothing if it cannot be."""
        if self._durable is not None:
            self._durable.write(rv, key, body)
        self._rv = rv

    def _emit(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        if self._rv_waiters:
            self._wake_waiters()

    # --- waiting for a resourceVersion -----------------------------------------------------
    async def wait_for(self, rv: int, timeout: float) -> bool:
        """Wait until the store has reached resourceVersion ``rv``; False if ``timeout`` passed first."""
        if rv <= self._rv:
            return True
        entry: tuple[int, asyncio.Future[None]] = (rv, asyncio.get_running_loop().create_future())
        self._rv_waiters.append(entry)
        try:
            await asyncio.wait_for(entry[1], timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            if entry in self._rv_waiters:
                self._rv_waiters.remove(entry)

    def _wake_waiters(self) -> None:
        still = []
        for rv, future in self._rv_waiters:
            if rv > self._rv:
                still.append((rv, future))
            elif not future.done():
                future.set_result(None)
        self._rv_waiters = still

    # --- watching --------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.discard(queue)

    def close_watches(self) -> None:
        """Wake every watch with an end-of-stream marker (server shutdown)."""
        for queue in self._subscribers:
            queue.put_nowait(None)  # type: ignore[arg-type]

    def can_resume(self, rv: int) -> bool:
        """True if every event after ``rv`` is still in history."""
        return rv >= self._compacted_rv

    def events_after(self, rv: int) -> list[Event]:
        return [e for e in self._history if e.rv > rv]

    # --- persistence -----------------------------------------------------------------------
    def load(self) -> None:
        """Open the data directory (migrating a legacy JSON snapshot) and take its state as current."""
        if self._durable is None:
            return
        self._rv, self._objects = self._durable.open()
        self._compacted_rv = self._rv  # history is not persisted: older watches must relist

    def close(self) -> None:
        """Release the data directory; every write was committed before it was answered."""
        if self._durable is not None:
            self._durable.close()
