"""The one RFC 3339 format: written as Kubernetes writes it, read however a server sends it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kuberun.resource.times import format_time, parse_time, utcnow

UTC = timezone.utc

# text -> the instant it names
READ = {
    "2026-01-01T00:00:00Z": datetime(2026, 1, 1, tzinfo=UTC),
    "2026-01-01T00:00:00z": datetime(2026, 1, 1, tzinfo=UTC),
    "2026-01-01T02:00:00+02:00": datetime(2026, 1, 1, tzinfo=UTC),
    "2026-01-01T00:00:00.5Z": datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
    "2026-01-01T00:00:00.123456789Z": datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
    "2026-01-01T00:00:00": datetime(2026, 1, 1, tzinfo=UTC),  # naive: taken as UTC
}


@pytest.mark.parametrize(("text", "instant"), READ.items(), ids=READ.keys())
def test_parse_time_reads_z_offsets_and_fractions_as_aware_instants(text, instant):
    parsed = parse_time(text)
    assert parsed == instant and parsed.tzinfo is not None


@pytest.mark.parametrize("bad", ["", "yesterday", "2026-13-01T00:00:00Z", None, 17])
def test_parse_time_refuses_what_is_not_a_timestamp(bad):
    with pytest.raises(ValueError):
        parse_time(bad)


def test_format_time_writes_seconds_in_utc_with_z():
    assert format_time(datetime(2026, 1, 1, 2, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2)))) == "2026-01-01T00:00:00Z"
    assert format_time(datetime(2026, 1, 1)) == "2026-01-01T00:00:00Z"


def test_a_formatted_time_parses_back_to_the_same_second():
    now = utcnow()
    assert now.tzinfo is not None
    assert parse_time(format_time(now)) == now.replace(microsecond=0)
