"""Timestamps as the server prints them in Tables: RFC 3339 in, ``ShortHumanDuration`` ages out."""

from __future__ import annotations

import datetime


def parse(timestamp: str) -> datetime.datetime:
    """An RFC 3339 timestamp (``Z``, offsets and fractions as metav1.Time/MicroTime write them)."""
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def age(timestamp: str | None) -> str:
    """The server's ``HumanDuration`` (short form): 45s, 5m, 3h, 2d, 1y."""
    if not timestamp:
        return "<unknown>"
    try:
        then = parse(timestamp)
    except ValueError:
        return "<invalid>"
    seconds = int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())
    for unit, size in (("y", 31536000), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= 120):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"
