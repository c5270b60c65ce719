"""The record's one time format: written as RFC 3339 UTC seconds, read from any RFC 3339 text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kuberun.resource.times import format_time, parse_time, utcnow

T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-02T03:04:05Z", T),
    ("2026-01-02T03:04:05z", T),
    ("2026-01-02T05:04:05+02:00", T),
    ("2026-01-01T22:04:05-05:00", T),
    ("2026-01-02T03:04:05.5Z", T + timedelta(microseconds=500000)),
    ("2026-01-02T03:04:05.123456789Z", T + timedelta(microseconds=123456)),  # MicroTime's nanoseconds, truncated
    ("2026-01-02T03:04:05", T),  # no offset: UTC, as Kubernetes and Slurm mean it
])
def test_parse_time_accepts_z_offsets_and_fractions(text, expected):
    parsed = parse_time(text)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z"])
def test_parse_time_refuses_what_is_not_a_time(text):
    with pytest.raises(ValueError):
        parse_time(text)


def test_format_time_writes_utc_seconds_whatever_the_zone():
    assert format_time(T) == "2026-01-02T03:04:05Z"
    assert format_time(T.astimezone(timezone(timedelta(hours=9))) + timedelta(microseconds=999)) == "2026-01-02T03:04:05Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"  # naive: already UTC
    assert parse_time(format_time(T)) == T


def test_utcnow_is_aware_and_utc():
    now = utcnow()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
