"""Object storage with one cluster-wide, monotonic resourceVersion and a bounded event history.

Why not kmock's storage: ``KubernetesEmulator`` keeps each object as a merge-everything history
of dicts (a create and a patch are the same deep merge), has no resourceVersion at all, and feeds
watches from an ``aiobus.Bus`` that has no history — so a watch cannot resume from a given
resourceVersion and events between the list snapshot and the subscription can be lost. Those are
exactly the semantics kopf and informers rely on, so the storage is written here: every mutation
gets the next resourceVersion, is appended to a bounded history and pushed to subscribers in the
same synchronous step (no ``await`` in between), which makes "snapshot + subscribe" atomic.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import logging
import os
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # group, plural, namespace ("" when cluster-scoped), name
STATE_FILE = "apiserver-state.json"


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
    """In-memory objects + resourceVersion counter + event history + watch subscribers."""

    def __init__(self, history_size: int = 10_000, data_dir: pathlib.Path | None = None) -> None:
        self._objects: dict[Key, dict[str, Any]] = {}
        self._rv = 1
        self._history: collections.deque[Event] = collections.deque(maxlen=history_size)
        self._compacted_rv = 0  # events at or below this RV are no longer in history
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._data_dir = data_dir
        self._save_handle: asyncio.TimerHandle | None = None

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
        self._rv += 1
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._rv)
        old = self._objects.get(key)
        self._objects[key] = obj
        self._emit(Event(self._rv, event_type, key[0], key[1], copy.deepcopy(obj), old))
        return copy.deepcopy(obj)

    def remove(self, key: Key) -> dict[str, Any]:
        """Delete the object; the DELETED event carries a new resourceVersion, as etcd's does."""
        obj = self._objects.pop(key)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(Event(self._rv, "DELETED", key[0], key[1], copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    def _emit(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        self._schedule_save()

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
        if self._data_dir is None:
            return
        path = self._data_dir / STATE_FILE
        if not path.exists():
            return
        state = json.loads(path.read_text())
        self._rv = int(state["resourceVersion"])
        self._compacted_rv = self._rv  # history is not persisted: older watches must relist
        for item in state["objects"]:
            self._objects[tuple(item["key"])] = item["object"]  # type: ignore[index]

    def save_now(self) -> None:
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if self._data_dir is None:
            return
        self._data_dir.mkdir(parents=True, exist_ok=True)
        state = {"resourceVersion": self._rv,
                 "objects": [{"key": list(k), "object": v} for k, v in self._objects.items()]}
        tmp = self._data_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self._data_dir / STATE_FILE)  # atomic: a crash never leaves half a file

    def _schedule_save(self) -> None:
        # Debounced: a burst of writes (an operator reconciling) costs one file write.
        if self._data_dir is None or self._save_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save_now()
            return
        self._save_handle = loop.call_later(0.2, self.save_now)
