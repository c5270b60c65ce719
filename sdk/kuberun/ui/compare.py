"""Compare 2+ experiments: summary and metrics side by side, metric plots, config differences.

Configs are compared as the lines ``describe`` shows (rendered from the record, never by
importing user code), aligned with ``difflib`` against the first experiment chosen, so a changed
learning rate is one highlighted row rather than two unrelated trees.
"""

from __future__ import annotations

import asyncio
import difflib
from typing import Any

from aiohttp import web

from kuberun.ui import data, plot, render

MAX_COMPARED = 8


def align(left: list[str], right: list[str]) -> list[tuple[str | None, str | None, bool]]:
    """Rows ``(left line, right line, differs)``; a line missing on one side is None there."""
    rows: list[tuple[str | None, str | None, bool]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
        if op == "equal":
            rows += [(line, line, False) for line in left[i1:i2]]
            continue
        a, b = left[i1:i2], right[j1:j2]
        for k in range(max(len(a), len(b))):
            rows.append((a[k] if k < len(a) else None, b[k] if k < len(b) else None, True))
    return rows


def _read(record: data.Record, refs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    out = []
    for namespace, name in refs:
        obj = record.get(namespace, name)
        maps = record.config_maps(obj)
        tasks = data.task_specs(obj)
        metrics, source = record.series_of(obj)
        out.append({"obj": obj, "name": name, "namespace": namespace,
                    # a Fiddle config's first line is its digest and size: shown apart, not diffed line by line
                    "configs": {t["name"]: data.config_lines(t, maps)[1 if t.get("fiddle") else 0:] for t in tasks},
                    "digests": {t["name"]: str((t.get("fiddle") or {}).get("sha256") or "")[:12] for t in tasks},
                    "metrics": metrics, "source": source})
    return out


async def compare(request: web.Request) -> web.Response:
    refs = []
    for value in request.query.getall("e", []):
        namespace, sep, name = value.partition("/")
        if not sep:
            namespace, name = render.record(request).namespace, value
        if name and (namespace, name) not in refs:
            refs.append((namespace, name))
    if len(refs) < 2:
        raise ValueError("choose at least two experiments to compare (tick them in the list)")
    if len(refs) > MAX_COMPARED:
        raise ValueError(f"compare at most {MAX_COMPARED} experiments at once")
    runs = await asyncio.to_thread(_read, render.record(request), refs)
    base = runs[0]
    diffs = []
    for other in runs[1:]:
        for task in dict.fromkeys([*base["configs"], *other["configs"]]):
            rows = align(base["configs"].get(task, []), other["configs"].get(task, []))
            diffs.append({"task": task, "other": other["name"], "rows": rows, "changed": sum(1 for r in rows if r[2]),
                          "digests": (base["digests"].get(task, ""), other["digests"].get(task, ""))})
    metric_names = sorted({m for run in runs for m in run["metrics"]})
    table = [(m, [run["metrics"][m][-1][1] if m in run["metrics"] else None for run in runs]) for m in metric_names]
    plots = [plot.build(m, [(run["name"], run["metrics"][m]) for run in runs if m in run["metrics"]])
             for m in metric_names if any(len(run["metrics"].get(m, [])) > 1 for run in runs)]
    return render.html(request, "compare.html", runs=runs, base=base, diffs=diffs, metric_table=table, plots=plots)
