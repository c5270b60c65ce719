"""The metric series file (``metrics.jsonl``) as the archive takes it: points in batches, never a crash.

``kr.log_metrics`` (and scripts) write one JSON object a line — ``{"name", "step", "value", "time"}``,
``step`` possibly null, non-finite values as ``"NaN"``/``"Infinity"``/``"-Infinity"``, ``time`` as Unix
seconds. The archive's ``record_metrics`` wants ``{name, step: int, value: float, time?}`` in batches of
at most ``MAX_POINTS_PER_CALL``; this converts, skipping lines it cannot read (a writer's partial last
line, a hostile one) and counting them, so the recorder can copy ``<attempt prefix>/metrics.jsonl`` from
the log store into the archive. A point without a step is given its line's position among the points
of its metric, so the order survives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from kuberun.resource.results import METRIC_NAME
from kuberun_operator.archive.limits import MAX_POINTS_PER_CALL

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def points(lines: Iterable[bytes | str]) -> tuple[list[dict[str, Any]], int]:
    """(points, lines skipped) of a metrics file's lines."""
    out: list[dict[str, Any]] = []
    skipped = 0
    position: dict[str, int] = {}
    for raw in lines:
        point = _point(raw)
        if point is None:
            skipped += bool(raw.strip()) if isinstance(raw, (bytes, str)) else 1
            continue
        name = point["name"]
        if point["step"] is None:
            point["step"] = position.get(name, 0)
        position[name] = point["step"] + 1
        out.append(point)
    return out, skipped


def batches(found: list[dict[str, Any]], size: int = MAX_POINTS_PER_CALL) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(found), size):
        yield found[start:start + size]


def _point(raw: bytes | str) -> dict[str, Any] | None:
    try:
        doc = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(doc, dict):
        return None
    name, step, value, when = doc.get("name"), doc.get("step"), doc.get("value"), doc.get("time")
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        return None
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or not -(2**63) <= step < 2**63):
        return None
    if isinstance(value, str):
        value = _SPECIAL.get(value)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    point: dict[str, Any] = {"name": name, "step": step, "value": float(value)}
    if isinstance(when, (int, float)) and not isinstance(when, bool) and math.isfinite(when) and 0 <= when < 2**33:
        point["time"] = datetime.fromtimestamp(when, tz=timezone.utc)
    return point
