"""An answer remembered for a few seconds: the one shape of the operator's short-lived caches.

The namespace labels a grant is checked against (``namespaces.py``) and the namespace's yes to an
attempt's pods (``backends/kubernetes/admission.py``) are both answers from the API that may be
stale by at most ``ttl`` seconds. An answer is as old as its question: the caller gives the time it
asked, so a slow request shortens its reuse. Bounded: when full, everything is forgotten (entries
are only ``ttl`` seconds' worth anyway).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

MAX_ENTRIES = 10_000


class TimedMemo:
    """``fresh(key)``: the answer remembered under ``key`` if younger than ``ttl`` seconds, else None."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl, self.clock, self.max_entries = ttl, clock, max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def fresh(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is not None and self.clock() - entry[0] < self.ttl:
            return entry[1]
        return None

    def remember(self, key: Hashable, answer: Any, asked_at: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (asked_at, answer)
