"""How the operator keeps what it caches: each object as one compact JSON ``bytes``, decoded on read.

At 10,000 live Experiments the cached objects were most of the operator's memory (docs/scale.md,
"Operator memory"). A slim Experiment of ~2.3 KB of JSON took ~8.6 KB as Python dicts, lists and
strings — hundreds of small objects each, spread over pymalloc's arenas among the watch's
transient bodies, so that an arena could rarely be given back once a burst had passed. As one
``bytes`` it takes its JSON's size plus a 33-byte header, in a single allocation.

The price is a ``json.loads`` per read (a reconcile reads its Experiment once, and its Jobs once):
tens of microseconds against a reconcile's milliseconds (``bench/live_memory.py`` prints both).
A read returns a fresh copy, so no reader can change the cache by mutating what it was handed;
writes go through ``__setitem__`` (slimmed there: ``slim.py`` decides what is kept).

``PackedExperiments`` is the controller's Experiment cache (``controller.experiments``): a mapping
from (namespace, name) to the Experiment, which also answers, without decoding, the two questions
asked of every cached copy — its (resourceVersion, UID) when a newer copy arrives, and its phase
for the metrics' gauge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from typing import Any, NamedTuple

from kuberun_operator import slim
from kuberun_operator.kube import resource_version

Key = tuple[str, str]
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def pack(obj: dict[str, Any]) -> bytes:
    """``obj`` as compact JSON (UTF-8): the form caches keep."""
    return _encode(obj).encode()


def unpack(blob: bytes) -> dict[str, Any]:
    """A fresh copy of a packed object."""
    return json.loads(blob)


class _Entry(NamedTuple):
    version: int  # resourceVersion as a number (kube.resource_version)
    uid: str
    phase: str  # status.phase, "Pending" before the first status
    blob: bytes


class PackedExperiments(MutableMapping[Key, dict[str, Any]]):
    """Experiments by (namespace, name), each kept slim (``slim.experiment``) and packed."""

    def __init__(self) -> None:
        self._items: dict[Key, _Entry] = {}

    def __getitem__(self, key: Key) -> dict[str, Any]:
        return unpack(self._items[key].blob)

    def __setitem__(self, key: Key, body: dict[str, Any]) -> None:
        kept = slim.experiment(body)
        meta = kept.get("metadata") or {}
        phase = (kept.get("status") or {}).get("phase") or "Pending"
        self._items[key] = _Entry(resource_version(kept), str(meta.get("uid") or ""), phase, pack(kept))

    def __delitem__(self, key: Key) -> None:
        del self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items  # without decoding (Mapping's default reads the item)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def version(self, key: Key) -> tuple[int, str] | None:
        """(resourceVersion, UID) of the cached copy, or None: whether a copy seen now is newer."""
        entry = self._items.get(key)
        return None if entry is None else (entry.version, entry.uid)

    def phases(self) -> Iterator[str]:
        """Every cached Experiment's phase ("Pending" before its first status), for the metrics."""
        return (entry.phase for entry in self._items.values())

    def nbytes(self) -> int:
        """The packed bodies' total size (what the cache holds, less the index): for the bench and tests."""
        return sum(len(entry.blob) for entry in self._items.values())
