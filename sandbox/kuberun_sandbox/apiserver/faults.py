"""Request records (for RBAC least-privilege checks) and fault injection (for retry and chaos tests).

A fault answers matching requests with an error status, delays them (a slow server), or drops the
connection after a while (a watch that ends without a word, as a load balancer or a crashed
apiserver ends it). Faults are set in-process (``ApiServer.inject``) or over HTTP by the sandbox
administrator (``faultroute.py``), so a sandbox running in another process can be faulted too.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass, field
from typing import Any

_IDS = itertools.count(1)


@dataclass(frozen=True)
class RequestRecord:
    """One served request, in RBAC terms. ``path`` is set for non-resource URLs (discovery...)."""

    verb: str
    group: str
    resource: str
    subresource: str | None
    namespace: str | None
    name: str | None
    code: int
    path: str = ""
    user_agent: str = ""  # tells the operator's requests from the tests' (the RBAC audit needs that)
    at: float = 0.0  # time.monotonic() when it arrived: orders a replica's writes against its lease deadline


@dataclass
class Fault:
    """Act on the next ``times`` matching requests (``times=None``: every one, until cleared).

    ``None`` criteria match anything. ``resource`` may be ``plural`` or ``plural/subresource``;
    ``user_agent`` matches a part of the client's User-Agent (fault one component, not all).
    ``probability`` < 1 makes a matching request hit the fault only that often (drawn from the
    server's seeded random generator, so a chaos run can be replayed from its seed). A hit waits
    ``delay`` seconds, then answers ``status`` (a Kubernetes Status body) or, with ``status=None``,
    serves the request. ``drop_after`` on a watch aborts its connection that many seconds after the
    hit (the stream ends with no final event); on any other request it serves the request and then
    aborts the connection instead of answering (a write is applied, its answer lost).
    ``retry_after`` sends a ``Retry-After`` header (seconds) with the status, as API Priority and
    Fairness does with 429.
    """

    status: int | None = 500
    times: int | None = 1
    verb: str | None = None
    group: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    user_agent: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    drop_after: float | None = None
    probability: float = 1.0
    hits: int = 0
    id: int = field(default_factory=lambda: next(_IDS))

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error code (400-599), not {self.status}")
        if self.times is not None and self.times < 0:
            raise ValueError(f"times must be >= 0 or null (every request), not {self.times}")
        if self.delay < 0 or (self.drop_after is not None and self.drop_after < 0):
            raise ValueError("delay and drop_after must be >= 0 seconds")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, not {self.probability}")
        if self.status is None and not self.delay and self.drop_after is None:
            raise ValueError("a fault needs a status, a delay or drop_after")

    def matches(self, record: RequestRecord) -> bool:
        full = f"{record.resource}/{record.subresource}" if record.subresource else record.resource
        return ((self.times is None or self.times > 0)
                and self.verb in (None, record.verb)
                and self.group in (None, record.group)
                and self.resource in (None, record.resource, full)
                and self.namespace in (None, record.namespace)
                and self.name in (None, record.name)
                and (self.user_agent is None or self.user_agent in record.user_agent))

    def consume(self) -> None:
        if self.times is not None:
            self.times -= 1
        self.hits += 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELDS = frozenset(f for f in Fault.__dataclass_fields__ if f not in ("hits", "id"))


def from_dict(body: Any) -> Fault:
    """A fault from a JSON body (the HTTP route); ``ValueError`` names what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(unknown)} (known: {', '.join(sorted(FIELDS))})")
    kinds = {"status": (int, type(None)), "times": (int, type(None)), "delay": (int, float),
             "drop_after": (int, float, type(None)), "probability": (int, float),
             "retry_after": (int, type(None))}
    for key, value in body.items():
        allowed = kinds.get(key, (str, type(None)))
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise ValueError(f"fault field {key!r} has the wrong type ({type(value).__name__})")
    return Fault(**body)


class FaultSet:
    """The server's faults and the seeded generator their probabilities draw from."""

    def __init__(self, seed: int | None = None) -> None:
        self.faults: list[Fault] = []
        self.random = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> int:
        count = len(self.faults)
        self.faults.clear()
        return count

    def remove(self, fault_id: int) -> bool:
        before = len(self.faults)
        self.faults[:] = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) < before

    def hit(self, record: RequestRecord) -> Fault | None:
        """The first fault that matches ``record`` and whose draw hits; it is consumed."""
        for fault in self.faults:
            if fault.matches(record) and (fault.probability >= 1.0 or self.random.random() < fault.probability):
                fault.consume()
                return fault
        return None

    def seed(self, seed: int) -> None:
        self.random.seed(seed)
