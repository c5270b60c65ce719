"""``kr.log_metrics({"loss": 0.12}, step=100)``: what a task reports, kept as a series in a file.

Every point is appended as one JSON line to ``$KUBERUN_METRICS_FILE`` (``metrics.jsonl``; the runner
sets the variable on every backend), so the series is the same whether it came from the task's own
process, from a subprocess (torchrun workers, a shell script that ``echo``s lines in this format) or
from several of them: the file is the one source of truth. When the task ends the runner reads the
file back for the *final* values it leaves in the run summary (``kuberun.resource.summary``) and the
operator copies into status; the file itself is archived beside the log.

Without the variable (the task function called by hand) the points are kept in memory only, so the
same code runs anywhere. Bounds: names follow ``METRIC_NAME``; at most ``MAX_SERIES_BYTES`` of
series are written (a loop that logs forever must not fill the disk) — past that, points are
dropped with one warning on stderr; final values are still tracked in memory for at most
``MAX_METRICS`` names.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kuberun.errors import KuberunError
from kuberun.resource.summary import MAX_METRICS, METRIC_NAME, METRICS_ENV

MAX_SERIES_BYTES = 64 << 20
_lock = threading.Lock()
_finals: dict[str, tuple[int | None, float]] = {}
_written = 0
_warned = False


def log_metrics(values: Mapping[str, float], step: int | None = None) -> None:
    """Record ``values`` (metric name → number) at ``step``; a bad name or value raises KuberunError."""
    if not isinstance(values, Mapping):
        raise KuberunError(f"log_metrics: values must be a mapping of name to number, got {type(values).__name__}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise KuberunError(f"log_metrics: step must be an integer, got {step!r}")
    points = []
    for name, value in values.items():
        if not isinstance(name, str) or not METRIC_NAME.match(name):
            raise KuberunError(f"log_metrics: metric name {name!r:.80} must match {METRIC_NAME.pattern}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)  # numpy and torch scalars
            except (TypeError, ValueError):
                raise KuberunError(f"log_metrics: {name}: value must be a number, got {type(value).__name__}") from None
        points.append((name, float(value)))
    now = time.time()
    lines = "".join(_line(name, step, value, now) for name, value in points)
    with _lock:
        for name, value in points:
            if name in _finals or len(_finals) < MAX_METRICS:
                _finals[name] = (step, value)
        _append(lines)


def _line(name: str, step: int | None, value: float, now: float) -> str:
    shown: float | str = value if math.isfinite(value) else ("NaN" if math.isnan(value) else
                                                           "Infinity" if value > 0 else "-Infinity")
    return json.dumps({"name": name, "step": step, "value": shown, "time": round(now, 3)}, allow_nan=False) + "\n"


def _append(lines: str) -> None:
    global _written, _warned
    path = os.environ.get(METRICS_ENV)
    if not path:
        return
    data = lines.encode()
    if _written + len(data) > MAX_SERIES_BYTES:
        if not _warned:
            _warned = True
            print(f"kuberun: metric series passed {MAX_SERIES_BYTES >> 20} MiB; further points are not written "
                  "(final values are still recorded)", file=sys.stderr)
        return
    try:
        with open(path, "ab") as handle:  # one write per call: lines of concurrent writers do not interleave
            handle.write(data)
        _written += len(data)
    except OSError as exc:
        if not _warned:
            _warned = True
            print(f"kuberun: cannot write metrics to {path}: {exc.strerror}", file=sys.stderr)


def read_series(path: Path, max_bytes: int = MAX_SERIES_BYTES) -> Iterator[dict[str, Any]]:
    """The points of a metrics file, skipping malformed lines (another writer's partial line)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - a missing file is no series, not an error
    except OSError:
        return
    with handle:
        read = 0
        for raw in handle:
            read += len(raw)
            if read > max_bytes:
                return
            try:
                point = json.loads(raw)
            except ValueError:
                continue
            if isinstance(point, dict) and isinstance(point.get("name"), str):
                yield point


def final_values(path: Path | None) -> tuple[dict[str, tuple[int | None, float]], int]:
    """(last value of each metric, names past MAX_METRICS not kept) from the file and this process."""
    finals: dict[str, tuple[int | None, float]] = {}
    dropped: set[str] = set()
    special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    for point in read_series(path) if path is not None else ():
        name, step, value = point["name"], point.get("step"), point.get("value")
        value = special.get(value, value) if isinstance(value, str) else value
        if not METRIC_NAME.match(name) or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            step = None
        if name in finals or len(finals) < MAX_METRICS:
            finals[name] = (step, float(value))
        else:
            dropped.add(name)
    with _lock:  # this process's own points are the newest it knows (also past the series' byte bound)
        for name, point in _finals.items():
            if name in finals or len(finals) < MAX_METRICS:
                finals[name] = point
    return finals, len(dropped)


def _reset_for_tests() -> None:
    global _written, _warned
    with _lock:
        _finals.clear()
        _written, _warned = 0, False
