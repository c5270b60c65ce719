"""The one time format of the record: RFC 3339 in UTC, to the second (``2026-11-29T18:04:05Z``).

Kubernetes writes ``metav1.Time`` exactly so (``creationTimestamp``, condition times), and the status
the operator writes must compare and sort the same way as the API server's own stamps. Every module
that writes a time calls ``format_time``; every one that reads one calls ``parse_time``, which also
takes what other writers send (fractions from ``MicroTime``, ``+00:00`` or other offsets).
"""

from __future__ import annotations

from datetime import datetime, timezone

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def format_time(dt: datetime) -> str:
    """``dt`` as ``YYYY-MM-DDTHH:MM:SSZ``; a naive datetime is taken to be UTC already."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime(FORMAT)


def parse_time(s: str) -> datetime:
    """An aware datetime from RFC 3339 text (``Z`` or an offset, optional fraction). Raises ValueError.

    A time without an offset is read as UTC, as Kubernetes and Slurm's ISO output mean it.
    """
    text = str(s).strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Python 3.10's fromisoformat takes 3 or 6 fraction digits only
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{(rest[:digits] + '000000')[:6]}{rest[digits:]}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
