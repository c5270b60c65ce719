"""Metric series for readers (the dashboard's compare plots): the archive's points, else the log store's files.

Status keeps only each metric's final value; the full series of an attempt is copied, when the
attempt ends, to ``<attempt prefix>/metrics.jsonl`` in the log store, and the archive has a table
for points (``archive.metrics(uid)``). This reads the archive first and, for an experiment it has
no points of, the store's files of the attempts the record names — so a plot works whether or not
the points were ever moved into the archive. The caller has been authorized (``get`` on the
experiment) before anything here runs.

Bounded by construction, since a task chooses what it logs: at most ``MAX_SERIES`` series and
``MAX_POINTS`` points each (evenly thinned, first and last kept, ``thinned`` says from how many),
and at most ``MAX_FILE_BYTES`` read of any one file. Only the latest attempt of each task that
logged a metric is returned, as status' final values are. Non-finite values travel as the strings
``"NaN"``/``"Infinity"``/``"-Infinity"`` (JSON has no such numbers), as in ``metrics.jsonl``.
"""

from __future__ import annotations

import math
from typing import Any

from kuberun.resource.results import METRICS_FILE
from kuberun_operator.logstore import LogStoreError, paths
from kuberun_operator.recording.series import points as parse_points

MAX_SERIES = 64
MAX_POINTS = 2000
MAX_FILE_BYTES = 16 << 20
MAX_ATTEMPTS_READ = 256  # store files opened per request

Series = dict[tuple[str, int, str], list[tuple[int, float]]]  # (task, attempt, metric) -> [(step, value)]


async def series_of(obj: dict[str, Any], archive: Any | None, store: Any | None) -> dict[str, Any]:
    """The ``MetricSeries`` document of ``obj`` (a live Experiment or an archived record)."""
    meta = obj.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    found: Series = {}
    source = "none"
    if archive is not None and uid:
        for p in await archive.metrics(uid):
            found.setdefault((p.task, p.attempt, p.name), []).append((p.step, p.value))
        source = "archive" if found else source
    if not found and store is not None and uid:
        found = await _from_store(obj, store)
        source = "logstore" if found else source
    return document(meta, latest_attempts(found), source)


async def _from_store(obj: dict[str, Any], store: Any) -> Series:
    meta = obj["metadata"]
    found: Series = {}
    opened = 0
    for task in (obj.get("status") or {}).get("tasks") or []:
        if not isinstance(task, dict):
            continue
        attempts = [a.get("attempt") for a in task.get("attempts") or [] if isinstance(a, dict)]
        for attempt in sorted((a for a in attempts if isinstance(a, int) and not isinstance(a, bool)), reverse=True):
            if opened >= MAX_ATTEMPTS_READ:
                return found
            try:
                key = paths.join(paths.attempt_prefix(meta["namespace"], meta["name"], meta["uid"], str(task.get("name")),
                                                      attempt), METRICS_FILE)
                opened += 1
                chunks = await store.open_log(key, length=MAX_FILE_BYTES)
                body = b"".join([chunk async for chunk in chunks])
            except (LogStoreError, OSError, KeyError):
                continue  # no series for this attempt (or a name no store key can hold)
            lines = body.splitlines()
            if len(body) >= MAX_FILE_BYTES and lines:
                lines = lines[:-1]  # cut mid-line by the bound
            for point in parse_points(lines)[0]:
                found.setdefault((str(task["name"]), attempt, point["name"]), []).append((point["step"], point["value"]))
            if any(k[0] == task["name"] and k[1] == attempt for k in found):
                break  # the latest attempt that logged anything is the one shown
    return found


def latest_attempts(found: Series) -> Series:
    """Per (task, metric), only the highest attempt's points, sorted by step (one value per step)."""
    best: dict[tuple[str, str], int] = {}
    for task, attempt, name in found:
        if attempt > best.get((task, name), -1):
            best[(task, name)] = attempt
    kept: Series = {}
    for (task, name), attempt in sorted(best.items()):
        by_step = dict(found[(task, attempt, name)])
        kept[(task, attempt, name)] = sorted(by_step.items())
    return kept


def thin(points: list[tuple[int, float]], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    """At most ``limit`` points, evenly spaced by index, keeping the first and the last."""
    if len(points) <= limit:
        return points
    last = len(points) - 1
    return [points[round(i * last / (limit - 1))] for i in range(limit)]


def encode(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def document(meta: dict[str, Any], found: Series, source: str) -> dict[str, Any]:
    items = []
    for (task, attempt, name), pts in list(found.items())[:MAX_SERIES]:
        shown = thin(pts)
        item: dict[str, Any] = {"task": task, "attempt": attempt, "name": name,
                                "points": [[step, encode(value)] for step, value in shown]}
        if len(shown) < len(pts):
            item["thinned"] = len(pts)
        items.append(item)
    doc: dict[str, Any] = {"kind": "MetricSeries", "apiVersion": "kuberun.dev/v1alpha1",
                           "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")},
                           "source": source, "items": items}
    if len(found) > MAX_SERIES:
        doc["seriesOmitted"] = len(found) - MAX_SERIES
    return doc
