"""Metric series as polylines for a small inline SVG line plot (the compare view).

Values are mapped to the plot box with the axes' ranges taken over every series shown, so runs
are comparable at a glance; NaN and infinite values are left out of the line (a diverged loss
must not break the drawing) and counted in the legend. The drawing is plain SVG made here (no
charting script, nothing fetched: the page works offline); each plot also carries its points as
data (``Line.data``) for the table that screen readers and text browsers get instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

TABLE_POINTS = 100  # rows per line in the table fallback (evenly chosen, first and last kept)
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 420, 200, 48, 12, 12, 28


@dataclass
class Line:
    label: str
    points: str
    index: int
    dropped: int = 0
    count: int = 0                                               # points drawn
    data: list[tuple[int, float]] = field(default_factory=list)  # every point

    @property
    def table(self) -> list[tuple[int, float]]:
        """The points the table fallback lists: all of them, or ``TABLE_POINTS`` evenly chosen."""
        if len(self.data) <= TABLE_POINTS:
            return self.data
        last = len(self.data) - 1
        return [self.data[round(i * last / (TABLE_POINTS - 1))] for i in range(TABLE_POINTS)]


@dataclass
class Plot:
    metric: str
    lines: list[Line] = field(default_factory=list)
    x_range: tuple[float, float] = (0.0, 1.0)
    y_range: tuple[float, float] = (0.0, 1.0)
    width: int = W
    height: int = H


def build(metric: str, series: list[tuple[str, list[tuple[int, float]]]]) -> Plot:
    finite = [(x, y) for _, pts in series for x, y in pts if math.isfinite(y)]
    plot = Plot(metric)
    if not finite:
        plot.lines = [Line(label, "", index, dropped=len(pts), data=list(pts)) for index, (label, pts) in enumerate(series)]
        return plot
    x0, x1 = min(p[0] for p in finite), max(p[0] for p in finite)
    y0, y1 = min(p[1] for p in finite), max(p[1] for p in finite)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    if y0 == y1:
        y0, y1 = y0 - 1, y1 + 1
    plot.x_range, plot.y_range = (x0, x1), (y0, y1)
    sx, sy = (W - PAD_L - PAD_R) / (x1 - x0), (H - PAD_T - PAD_B) / (y1 - y0)
    for index, (label, pts) in enumerate(series):
        kept = [(x, y) for x, y in pts if math.isfinite(y)]
        coords = " ".join(f"{PAD_L + (x - x0) * sx:.1f},{H - PAD_B - (y - y0) * sy:.1f}" for x, y in kept)
        plot.lines.append(Line(label, coords, index, dropped=len(pts) - len(kept), count=len(kept), data=list(pts)))
    return plot
