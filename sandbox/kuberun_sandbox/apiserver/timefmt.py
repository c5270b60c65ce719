"""Timestamps as the server prints them in Tables: RFC 3339 in, ``ShortHumanDuration`` ages out."""

from __future__ import annotations

import datetime

from kuberun.resource.times import parse_time

parse = parse_time  # the one RFC 3339 parser (Z, offsets, fractions as metav1.Time/MicroTime write them)


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
