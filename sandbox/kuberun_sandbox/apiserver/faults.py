"""Request records (for RBAC least-privilege checks) and fault injection (for retry tests)."""

from __future__ import annotations

from dataclasses import dataclass


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
    """Answer the next ``times`` matching requests with ``status`` instead of serving them.

    ``None`` criteria match anything. ``resource`` may be ``plural`` or ``plural/subresource``;
    ``user_agent`` matches a substring of the client's User-Agent (one operator replica of several).
    ``retry_after`` sends a ``Retry-After`` header (seconds), as API Priority and Fairness does with 429.
    """

    status: int
    times: int = 1
    verb: str | None = None
    group: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    user_agent: str | None = None
    retry_after: int | None = None
    hits: int = 0

    def matches(self, record: RequestRecord) -> bool:
        full = f"{record.resource}/{record.subresource}" if record.subresource else record.resource
        return (self.times > 0
                and self.verb in (None, record.verb)
                and self.group in (None, record.group)
                and self.resource in (None, record.resource, full)
                and self.namespace in (None, record.namespace)
                and self.name in (None, record.name)
                and (self.user_agent is None or self.user_agent in record.user_agent))

    def consume(self) -> None:
        self.times -= 1
        self.hits += 1
