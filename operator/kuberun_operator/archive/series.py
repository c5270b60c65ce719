"""Metric points and log/artifact locations: their shapes and the checks made before they are stored.

Both are keyed so that recording the same thing twice is harmless (the operator re-copies after a
restart): a metric point by (uid, task, attempt, name, step), a location by (uid, task, attempt,
kind, url). The later recording wins.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kuberun_operator.archive import limits
from kuberun_operator.archive.errors import InvalidRecord
from kuberun_operator.archive.record import parse_time

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class MetricPoint:
    """One value of one metric at one step of one attempt. ``value`` may be NaN (a diverged loss)."""

    task: str
    attempt: int
    name: str
    step: int
    value: float
    time: datetime | None = None


@dataclass(frozen=True)
class Location:
    """Where an attempt's log or one of its artifacts was copied to."""

    task: str
    attempt: int
    kind: str          # "log" | "artifact"
    url: str
    size: int | None = None
    sha256: str | None = None
    recorded_at: datetime | None = None


def check_key(uid: str, task: str, attempt: int) -> None:
    if not isinstance(uid, str) or not uid or len(uid) > 128:
        raise InvalidRecord(f"uid must be a non-empty string of at most 128 characters, got {uid!r}")
    if not isinstance(task, str) or not task or len(task) > limits.MAX_NAME:
        raise InvalidRecord(f"task must be a non-empty string of at most {limits.MAX_NAME} characters, got {task!r}")
    if not _is_int(attempt) or attempt < 0:
        raise InvalidRecord(f"attempt must be a non-negative integer, got {attempt!r}")


def metric_points(task: str, attempt: int, series: Iterable[MetricPoint | Mapping[str, Any]]) -> list[MetricPoint]:
    """Checked points of one attempt, from MetricPoints or mappings {name, step, value, time?}."""
    points: dict[tuple[str, int], MetricPoint] = {}
    for n, item in enumerate(series):
        if n >= limits.MAX_POINTS_PER_CALL:
            raise InvalidRecord(f"more than {limits.MAX_POINTS_PER_CALL} metric points in one call: send them in batches")
        name, step, value, time = _fields(item, n)
        if not isinstance(name, str) or not name or len(name) > limits.MAX_NAME:
            raise InvalidRecord(f"series[{n}].name must be a non-empty string of at most {limits.MAX_NAME} characters")
        if not _is_int(step) or not -(2**63) <= step < 2**63:
            raise InvalidRecord(f"series[{n}].step must be a 64-bit integer, got {step!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRecord(f"series[{n}].value must be a number, got {value!r}")
        when = parse_time(time) if time is not None else None
        if time is not None and when is None:
            raise InvalidRecord(f"series[{n}].time must be a datetime or an RFC 3339 string, got {time!r}")
        # Within one call the last point of a (name, step) wins, as it does across calls.
        points[(name, step)] = MetricPoint(task, attempt, name, step, float(value), when)
    return list(points.values())


def location(task: str, attempt: int, kind: str, url: str, size: int | None, sha256: str | None) -> Location:
    if kind not in limits.LOCATION_KINDS:
        raise InvalidRecord(f"location kind must be one of {sorted(limits.LOCATION_KINDS)}, got {kind!r}")
    if not isinstance(url, str) or not url or len(url) > limits.MAX_URL:
        raise InvalidRecord(f"location url must be a non-empty string of at most {limits.MAX_URL} characters")
    if size is not None and (not _is_int(size) or size < 0):
        raise InvalidRecord(f"location size must be a non-negative integer, got {size!r}")
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
        raise InvalidRecord(f"location sha256 must be 64 lowercase hex digits, got {sha256!r}")
    return Location(task, attempt, kind, url, size, sha256)


def stored_value(value: float) -> float | None:
    """SQLite cannot store NaN (it reads back as NULL), so NULL is NaN's spelling on both dialects."""
    return None if math.isnan(value) else value


def loaded_value(value: float | None) -> float:
    return math.nan if value is None else value


def _fields(item: MetricPoint | Mapping[str, Any], n: int) -> tuple[Any, Any, Any, Any]:
    if isinstance(item, MetricPoint):
        return item.name, item.step, item.value, item.time
    if isinstance(item, Mapping):
        missing = [k for k in ("name", "step", "value") if k not in item]
        if missing:
            raise InvalidRecord(f"series[{n}] lacks {', '.join(missing)}")
        return item["name"], item["step"], item["value"], item.get("time")
    raise InvalidRecord(f"series[{n}] must be a MetricPoint or a mapping, got {type(item).__name__}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
