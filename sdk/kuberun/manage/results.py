"""Reading results out of the record: metric values per task, ``list --columns``, ``kuberun compare``.

Everything here reads the Experiment object as the API returns it (plain dicts), so it works for a
live object and an archived one alike, and never imports user code: configs are compared as the
paths and values of their Fiddle JSON (``fiddle_tree.flatten_fiddle``), a tree diff by path — a
changed learning rate is one row ``train.lr``, a swapped model class is one row ``train.model``.

Which value a task "has" for a metric: its latest attempt that recorded metrics (a retried task's
last try; a failed final try's values are still its values, the phase says how it ended).
"""

from __future__ import annotations

import math
import shlex
from typing import Any

Obj = dict[str, Any]
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
MAX_COMPARED = 16


def number(raw: Any) -> float | None:
    """A recorded MetricValue (``{"value": .., "special": .., "step": ..}``) as a float; None if malformed."""
    if not isinstance(raw, dict):
        return None
    if raw.get("special") in _SPECIAL:
        return _SPECIAL[raw["special"]]
    value = raw.get("value")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def task_metrics(obj: Obj) -> dict[str, dict[str, Any]]:
    """``{task: {metric: MetricValue dict}}`` from each task's latest attempt that recorded metrics."""
    out: dict[str, dict[str, Any]] = {}
    for task in (obj.get("status") or {}).get("tasks") or []:
        if not isinstance(task, dict):
            continue
        for attempt in reversed(task.get("attempts") or []):
            found = attempt.get("metrics") if isinstance(attempt, dict) else None
            if isinstance(found, dict) and found:
                out[str(task.get("name", ""))] = found
                break
    return out


def task_results(obj: Obj) -> dict[str, dict[str, Any]]:
    """``{task: {"result": json text?, "resultNote": ..?}}`` of each task's latest attempt that has either."""
    out: dict[str, dict[str, Any]] = {}
    for task in (obj.get("status") or {}).get("tasks") or []:
        for attempt in reversed(task.get("attempts") or []) if isinstance(task, dict) else ():
            picked = {k: attempt[k] for k in ("result", "resultNote") if isinstance(attempt, dict) and k in attempt}
            if picked:
                out[str(task.get("name", ""))] = picked
                break
    return out


def metric(obj: Obj, column: str) -> float | None:
    """The value a ``--columns`` entry names: ``TASK.METRIC``, or ``METRIC`` of the last task that has it."""
    by_task = task_metrics(obj)
    head, dot, rest = column.partition(".")
    if dot and head in by_task and rest in by_task[head]:
        return number(by_task[head][rest])
    for values in reversed(list(by_task.values())):
        if column in values:
            return number(values[column])
    return None


def format_value(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.6g}"


def flat_metrics(obj: Obj) -> dict[str, float | None]:
    """``{"task.metric": value}``: every recorded final value, for a side-by-side table."""
    return {f"{task}.{name}": number(raw) for task, values in task_metrics(obj).items() for name, raw in values.items()}


def config_paths(task: dict[str, Any], config_maps: dict[str, str]) -> dict[str, str]:
    """A task's payload as ``{path: value}``: the Fiddle tree's paths, or the script as one value."""
    script = task.get("script")
    if script:  # a script compares as one value: its command line, or its inline text
        if script.get("command"):
            return {"<script>": "$ " + shlex.join([*script["command"], *script.get("args", [])])}
        return {"<script>": f"#!{script.get('entrypoint', 'bash')}\n{script.get('inline', '')}"}
    fiddle = task.get("fiddle") or {}
    refs = [r.get("name") for r in fiddle.get("configMapRefs") or [] if isinstance(r, dict)]
    if not fiddle.get("data") and refs and any(r not in config_maps for r in refs):
        return {"<config>": f"(stored in ConfigMaps {', '.join(map(str, refs))}, which are gone; compare by digest: "
                            f"{fiddle.get('sha256') or 'none recorded'})"}
    data = fiddle.get("data") or "".join(config_maps.get(r, "") for r in refs)
    try:
        from kuberun.manage.fiddle_tree import flatten_fiddle
        from kuberun.serialization import decode_envelope

        return flatten_fiddle(decode_envelope(data, fiddle.get("sha256"))["config"])
    except Exception as exc:  # a damaged config must not stop the comparison of the rest
        return {"<config>": f"(cannot read: {str(exc)[:200]})"}


def compare(objs: list[Obj], config_maps: list[dict[str, str]]) -> dict[str, Any]:
    """Config differences and metrics of 2+ experiments, as data (``-o json`` prints it as is).

    ``config``: rows ``{"path": "task.path", "values": [...]}`` only where the experiments differ (a
    task or path missing from one is ``None`` there); ``metrics``: every ``task.metric`` of any of
    them, with each one's value (``None`` where it has none); ``results``: each task's return value.
    """
    names = [str((o.get("metadata") or {}).get("name", "")) for o in objs]
    specs = [{t.get("name"): t for t in (o.get("spec") or {}).get("tasks") or [] if isinstance(t, dict)} for o in objs]
    rows: list[dict[str, Any]] = []
    for task in dict.fromkeys(t for spec in specs for t in spec):
        digests = {str((spec.get(task) or {}).get("fiddle", {}).get("sha256")) for spec in specs}
        if len(digests) == 1 and "None" not in digests:
            continue  # the same config, byte for byte
        paths = [config_paths(spec[task], maps) if task in spec else {} for spec, maps in zip(specs, config_maps, strict=True)]
        for path in dict.fromkeys(p for one in paths for p in one):
            values = [one.get(path) if task in spec else None for one, spec in zip(paths, specs, strict=True)]
            if len(set(values)) > 1:
                rows.append({"path": f"{task}.{path}" if path != "<root>" else str(task), "values": values})
    flat = [flat_metrics(o) for o in objs]
    metric_names = sorted({m for one in flat for m in one})
    metrics = [{"metric": m, "values": [one.get(m) for one in flat]} for m in metric_names]
    results = [task_results(o) for o in objs]
    phases = [str((o.get("status") or {}).get("phase") or "Pending") for o in objs]
    return {"experiments": names, "phases": phases, "config": rows, "metrics": metrics, "results": results}


def json_safe(doc: Any) -> Any:
    """Non-finite floats as the strings JSON readers accept elsewhere in kuberun ("NaN", "Infinity")."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return "NaN" if math.isnan(doc) else ("Infinity" if doc > 0 else "-Infinity")
    if isinstance(doc, dict):
        return {k: json_safe(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [json_safe(v) for v in doc]
    return doc


def metric_columns(items: list[dict[str, Any]], columns: str | None) -> list[tuple[str, list[str]]]:
    """The ``--columns`` cells: one (HEADER, cell per item) for each named metric."""
    from kuberun.errors import UsageError

    if not columns:
        return []
    names = [c.strip() for c in columns.split(",") if c.strip()]
    if not names:
        raise UsageError("--columns needs metric names, e.g. --columns loss,eval.acc")
    return [(name.upper(), [format_value(metric(obj, name)) for obj in items]) for name in names]
