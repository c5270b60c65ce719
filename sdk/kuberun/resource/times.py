"""The one home of the RFC 3339 timestamps Kubernetes writes: ``2026-01-01T00:00:00Z``, always UTC.

Status, Events and every cache compare and sort these strings, so all of kuberun writes one
format (second precision, ``Z``) and reads whatever a server may send (``Z`` or an offset,
with or without fractions; a naive time is taken as UTC).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_FRACTION = re.compile(r"\.(\d+)")


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def format_time(dt: datetime) -> str:
    """``dt`` as Kubernetes writes it (converted to UTC; a naive ``dt`` is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime(FORMAT)


def parse_time(s: str) -> datetime:
    """A timezone-aware datetime from RFC 3339 text; raises ValueError when ``s`` is not one."""
    if not isinstance(s, str) or not s.strip():
        raise ValueError(f"not an RFC 3339 timestamp: {s!r}")
    text = s.strip()
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes exactly 3 or 6 fraction digits; servers send 1 to 9.
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
