"""Object storage with one cluster-wide, monotonic resourceVersion and a bounded event history.

Why not kmock's storage: ``KubernetesEmulator`` keeps each object as a merge-everything history
of dicts (a create and a patch are the same deep merge), has no resourceVersion at all, and feeds
watches from an ``aiobus.Bus`` that has no history — so a watch cannot resume from a given
resourceVersion and events between the list snapshot and the subscription can be lost. Those are
exactly the semantics kopf and informers rely on, so the storage is written here: every mutation
gets the next resourceVersion and is applied in memory synchronously, and its event is appended
to a bounded history and pushed to subscribers in one synchronous step (no ``await`` in between),
which makes "snapshot + subscribe" atomic.

Durability (``durable.py``), with a data directory: nothing leaves the process before it is
committed. A mutation is staged in an open SQLite transaction and applied in memory at once (so
the handler, and the next request, see it), but its event is held back, and the commit comes in a
``call_soon`` callback — one commit for every write made in that turn of the event loop (group
commit: with several clients, several requests' writes share it, and at ``sync=full`` one fsync).
Only after the commit are the events pushed to watches; the server answers every request only
after ``barrier()`` (``server.py``), i.e. after the commit of every write it could have seen, and
a watch commits what is staged before it takes its snapshot. So nothing a client or a watch was
shown can be missing after a crash, and the resourceVersion counter never goes backwards across
restarts. A commit that fails undoes the whole group in memory and answers each request that
waited on it 500. The database is read only at start; the history is not persisted (after a
restart, watches from before it get 410 and relist). Without a data directory the same order
holds with nothing to commit.

Cost (bench/reconcile.py, profiled with bench/sampler.py): a stored object is never mutated — a
write replaces it — so the store keeps, beside each decoded object, the JSON it was stored as
(``body``): a reader's private copy is decoded from it (several times cheaper than
``copy.deepcopy``), and a list can send the bodies as they are (``stored_json``). Objects are indexed
by (group, plural), so a list — and the authorizer's and admission's reads of bindings and policies
on every request — costs the objects of that resource, not a scan of every stored key.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import pathlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kuberun.aiowait import wait_for

from .durable import DurableState, Key, encode
from .errors import ApiError

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
    body: str | None = None  # ``obj`` as JSON (as stored): every watch sends these bytes, none re-encodes


class Store:
    """In-memory objects + resourceVersion counter + event history + watch subscribers (+ durable state)."""

    def __init__(self, history_size: int = 10_000, data_dir: pathlib.Path | None = None,
                 sync: str | None = None) -> None:
        self._objects: dict[Key, dict[str, Any]] = {}
        self._bodies: dict[Key, str] = {}  # each object's JSON as stored (what a read after a restart decodes)
        self._kinds: dict[tuple[str, str], set[Key]] = {}  # (group, plural) -> its keys
        self._rv = 1
        self._history: collections.deque[Event] = collections.deque(maxlen=history_size)
        self._compacted_rv = 0  # events at or below this RV are no longer in history
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._rv_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._durable = DurableState(data_dir, sync) if data_dir is not None else None
        # The group being committed: its events (held back), how to undo it, the callback and waiters.
        self._staged: list[Event] = []
        self._undo: list[tuple[Key, dict[str, Any] | None, str | None]] = []  # (key, old object, old body)
        self._committed_rv = 1
        self._flush_handle: asyncio.Handle | None = None
        self._flushed: asyncio.Future[None] | None = None
        # Called as (key, restored, undone) for each write a failed commit takes back, so state kept
        # beside the store (the server's registry of CRD-defined types) follows it back.
        self.undo_hook: Callable[[Key, dict[str, Any] | None, dict[str, Any] | None], None] | None = None

    # --- reading ---------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, key: Key) -> dict[str, Any] | None:
        """A private copy of the stored object (the caller may change it), or None."""
        body = self._bodies.get(key)
        return json.loads(body) if body is not None else None

    def get_ref(self, key: Key) -> dict[str, Any] | None:
        """The stored object itself: read-only (writes replace, never mutate)."""
        return self._objects.get(key)

    def list(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Objects of one resource (all namespaces when ``namespace`` is None), ordered by ns/name."""
        return [json.loads(self._bodies[k]) for k in self._keys(group, plural, namespace)]

    def list_refs(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Like ``list`` but the stored objects themselves: read-only (writes replace, never mutate)."""
        return [self._objects[k] for k in self._keys(group, plural, namespace)]

    def stored_json(self, key: Key, obj: dict[str, Any]) -> str:
        """``obj``'s JSON: the stored body when ``obj`` is what is stored under ``key`` now, else encoded."""
        return self._bodies[key] if self._objects.get(key) is obj else encode(obj)

    def _keys(self, group: str, plural: str, namespace: str | None) -> list[Key]:
        keys = self._kinds.get((group, plural), ())
        return sorted(keys if namespace is None else (k for k in keys if k[2] == namespace))

    def items(self) -> Iterator[tuple[Key, dict[str, Any]]]:
        yield from list(self._objects.items())

    # --- writing ---------------------------------------------------------------------------
    def put(self, key: Key, obj: dict[str, Any], event_type: str) -> dict[str, Any]:
        """Store ``obj`` under the next resourceVersion and emit the event; returns a copy."""
        rv = self._rv + 1
        body = encode({**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": str(rv)}})
        old = self._objects.get(key)
        self._stage(rv, key, body, old)
        # Decoded from what was stored: a read now is what a read after a restart gives. The event
        # carries the stored object itself (read-only, as ``old`` is); the caller gets its own copy.
        stored = json.loads(body)
        self._set(key, stored, body)
        self._emit(Event(rv, event_type, key[0], key[1], stored, old, body))
        return json.loads(body)

    def remove(self, key: Key) -> dict[str, Any]:
        """Delete the object; the DELETED event carries a new resourceVersion, as etcd's does."""
        current = self._objects[key]
        rv = self._rv + 1
        self._stage(rv, key, None, current)
        self._drop(key)
        # A new dict: the removed one may still sit in a list snapshot being paged through.
        body = encode({**current, "metadata": {**current["metadata"], "resourceVersion": str(rv)}})
        self._emit(Event(rv, "DELETED", key[0], key[1], json.loads(body), None, body))
        return json.loads(body)

    def _set(self, key: Key, obj: dict[str, Any], body: str) -> None:
        self._objects[key], self._bodies[key] = obj, body
        self._kinds.setdefault(key[:2], set()).add(key)  # type: ignore[arg-type]

    def _drop(self, key: Key) -> None:
        self._objects.pop(key, None)
        self._bodies.pop(key, None)
        kind = self._kinds.get(key[:2])  # type: ignore[arg-type]
        if kind is not None:
            kind.discard(key)

    def _stage(self, rv: int, key: Key, body: str | None, old: dict[str, Any] | None) -> None:
        """Into the open transaction, or a 500 with nothing changed; the commit follows this turn."""
        if self._durable is not None:
            self._durable.stage(rv, key, body)
        self._undo.append((key, old, self._bodies.get(key)))
        self._rv = rv

    def _emit(self, event: Event) -> None:
        self._staged.append(event)
        if self._flush_handle is None:
            try:
                self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop (a synchronous caller): commit now
                self.flush()

    # --- committing ------------------------------------------------------------------------
    def flush(self) -> None:
        """Commit what is staged, then publish it (history, watches, waiters); on failure undo it all."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        staged, undo, waiter = self._staged, self._undo, self._flushed
        self._staged, self._undo, self._flushed = [], [], None
        if not staged:
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        try:
            if self._durable is not None:
                self._durable.commit()
        except Exception as e:  # an ApiError 500, or a bug: either way nothing of the group may stay
            if not isinstance(e, ApiError):
                logger.exception("commit failed")
                e = ApiError(500, "InternalError", f"the write could not be stored: {e!r}")
            for key, old, old_body in reversed(undo):
                undone = self._objects.get(key)
                self._drop(key)
                if old is not None and old_body is not None:
                    self._set(key, old, old_body)
                if self.undo_hook is not None:
                    try:
                        self.undo_hook(key, old, undone)
                    except Exception:  # the waiters below must hear back whatever happens here
                        logger.exception("undo hook failed for %s", key)
            self._rv = self._committed_rv
            if waiter is not None and not waiter.done():
                waiter.set_exception(e)
            return
        self._committed_rv = self._rv
        for event in staged:
            self._publish(event)
        if self._rv_waiters:
            self._wake_waiters()
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def barrier(self) -> None:
        """Return once every write made so far is committed; raises its 500 if that commit failed."""
        if not self._staged:
            return
        if self._flushed is None:
            self._flushed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._flushed)

    def _publish(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)

    # --- waiting for a resourceVersion -----------------------------------------------------
    async def wait_for(self, rv: int, timeout: float) -> bool:
        """Wait until the store has committed resourceVersion ``rv``; False if ``timeout`` passed first."""
        if rv <= self._committed_rv:
            return True
        entry: tuple[int, asyncio.Future[None]] = (rv, asyncio.get_running_loop().create_future())
        self._rv_waiters.append(entry)
        try:
            await wait_for(entry[1], timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            if entry in self._rv_waiters:
                self._rv_waiters.remove(entry)

    def _wake_waiters(self) -> None:
        still = []
        for rv, future in self._rv_waiters:
            if rv > self._committed_rv:
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
        self._rv, objects = self._durable.open()
        self._objects, self._bodies, self._kinds = {}, {}, {}
        for key, obj in objects.items():
            self._set(key, obj, encode(obj))
        self._committed_rv = self._rv
        self._compacted_rv = self._rv  # history is not persisted: older watches must relist

    def close(self) -> None:
        """Commit what is staged and release the data directory."""
        self.flush()
        if self._durable is not None:
            self._durable.close()
