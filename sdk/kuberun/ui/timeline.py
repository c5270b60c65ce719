"""Every attempt of every task on one time axis (a Gantt chart), as bars for an inline SVG.

One row per task, one bar per attempt, so a retried task shows its failed tries beside the one that
succeeded, on whichever backend each ran. A bar spans start (or submission, while queued) to finish,
or to ``now`` while still running; the axis is relative to the first attempt's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kuberun.ui import data

ROW_H, BAR_H, LABEL_W, CHART_W, PAD, AXIS_H = 30, 18, 120, 640, 10, 24


@dataclass
class Bar:
    task: str
    attempt: int
    phase: str
    backend: str
    x: float
    width: float
    y: float
    label: str
    reason: str
    exit_code: Any
    running: bool


@dataclass
class Timeline:
    rows: list[tuple[str, float]] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    width: float = LABEL_W + CHART_W + PAD * 2
    height: float = 0.0


def _seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s" if seconds >= 10 or seconds == 0 else f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def build(obj: dict[str, Any], now: datetime | None = None) -> Timeline:
    now = now or datetime.now(timezone.utc)
    statuses = data.task_statuses(obj)
    spans: list[tuple[str, dict[str, Any], datetime, datetime, bool]] = []
    names = [t["name"] for t in data.task_specs(obj)]
    for name in names:
        for att in (statuses.get(name) or {}).get("attempts") or []:
            start = data.parse_time(att.get("startTime")) or data.parse_time(att.get("submitTime"))
            if start is None:
                continue
            end = data.parse_time(att.get("finishTime"))
            spans.append((name, att, start, end or now, end is None))
    line = Timeline(height=AXIS_H + PAD * 2 + ROW_H * max(len(names), 1))
    line.rows = [(name, PAD + index * ROW_H) for index, name in enumerate(names)]
    if not spans:
        return line
    t0 = min(s[2] for s in spans)
    total = max(max((s[3] - t0).total_seconds() for s in spans), 1.0)
    scale = CHART_W / total
    row_y = dict(line.rows)
    for name, att, start, end, running in spans:
        x = LABEL_W + PAD + (start - t0).total_seconds() * scale
        width = max((end - start).total_seconds() * scale, 3.0)
        ref = att.get("backendRef") or {}
        backend = str(ref.get("backend") or "-") + (f"/{ref['cluster']}" if ref.get("cluster") else "")
        duration = _seconds((end - start).total_seconds())
        phase = str(att.get("phase") or "Pending")
        label = f"{name} attempt {att.get('attempt')}: {phase} on {backend}, {duration}" + (" so far" if running else "")
        line.bars.append(Bar(name, int(att.get("attempt") or 0), phase, backend, x, width,
                             row_y[name] + (ROW_H - BAR_H) / 2, label, str(att.get("reason") or ""), att.get("exitCode"), running))
    for i in range(5):
        fraction = i / 4
        line.ticks.append((LABEL_W + PAD + fraction * CHART_W, "+" + _seconds(total * fraction)))
    return line
