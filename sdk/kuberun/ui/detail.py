"""One experiment: header, DAG, timeline, per-task attempts and configs, lineage, Events, logs.

The page is read in one worker-thread call (object, Events, reproductions, config ConfigMaps),
then drawn; the live part (DAG, timeline, attempts, conditions, Events) is re-fetched as a
fragment until the experiment is finished. Config trees are rendered from the serialized
record by the SDK's ``describe`` renderer, which never imports user code.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from kuberun.ui import data, graph, render, timeline

FINISHED = {"Succeeded", "Failed", "Cancelled"}
TASK_FINISHED = FINISHED | {"Skipped"}
PAST_LOG_LINES = 5000
ACTIONS = ("cancel", "suspend", "resume", "reproduce")


def _name(request: web.Request) -> tuple[str, str]:
    return request.match_info["namespace"], request.match_info["name"]


def live_context(obj: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    tasks, statuses = data.task_specs(obj), data.task_statuses(obj)
    rows = []
    asked = {c.get("task") for c in (obj.get("spec") or {}).get("cancelTasks") or [] if isinstance(c, dict)}
    final = data.phase_of(obj) in FINISHED
    for task in tasks:
        st = statuses.get(task["name"]) or {}
        phase = str(st.get("phase") or "Pending")
        rows.append({"name": task["name"], "phase": str(st.get("phase") or "Pending"), "status": st,
                     "attempts": sorted(st.get("attempts") or [], key=lambda a: a.get("attempt", 0)),
                     "depends_on": task.get("dependsOn") or [], "retries": (task.get("retries") or {}).get("limit") or 0,
                     "executor": next(iter(task.get("executor") or {"?": {}})),
                     "running": str(st.get("phase")) in ("Running", "Submitted"),
                     "cancel_asked": task["name"] in asked,
                     "cancellable": not final and phase not in TASK_FINISHED and task["name"] not in asked})
    status = obj.get("status") or {}
    return {"obj": obj, "meta": obj["metadata"], "phase": data.phase_of(obj), "graph": graph.layout(tasks, statuses),
            "timeline": timeline.build(obj, datetime.now(timezone.utc)), "tasks": rows,
            "conditions": status.get("conditions") or [], "events": events,
            "final": data.phase_of(obj) in FINISHED}


def _read(record: data.Record, namespace: str, name: str) -> dict[str, Any]:
    obj = record.get(namespace, name)
    if data.is_archived(obj):  # the object is gone: Events as archived, its ConfigMaps went with it
        return {"obj": obj, "events": obj["archive"].get("events") or [], "children": record.reproductions(obj),
                "config_maps": {}}
    return {"obj": obj, "events": record.events(obj), "children": record.reproductions(obj),
            "config_maps": record.config_maps(obj)}


async def experiment(request: web.Request) -> web.Response:
    namespace, name = _name(request)
    read = await asyncio.to_thread(_read, render.record(request), namespace, name)
    obj = read["obj"]
    meta, spec = obj["metadata"], obj.get("spec") or {}
    configs = {t["name"]: data.config_lines(t, read["config_maps"]) for t in data.task_specs(obj)}
    labels = meta.get("labels") or {}
    metrics = sorted(data.last_values(obj).items())
    return render.html(request, "experiment.html", **live_context(obj, read["events"]), spec=spec, configs=configs,
                       labels=sorted(labels.items()), origin=labels.get(data.LABEL_REPRODUCED_FROM),
                       children=[c["metadata"]["name"] for c in read["children"]], metrics=metrics,
                       actions=ACTIONS, done=request.query.get("done"), done_task=request.query.get("task"),
                       live_src=f"/fragments/exp/{namespace}/{name}")


async def experiment_live(request: web.Request) -> web.Response:
    namespace, name = _name(request)
    record = render.record(request)

    def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        obj = record.get(namespace, name)
        return obj, (obj["archive"].get("events") or []) if data.is_archived(obj) else record.events(obj)

    obj, events = await asyncio.to_thread(read)
    context = live_context(obj, events)
    return render.fragment(request, "_experiment_live.html", headers={"X-Final": "1" if context["final"] else "0"}, **context)


async def past_log(request: web.Request) -> web.Response:
    """An attempt's log as it is now (any attempt, finished or not): the last lines, as text in a page."""
    namespace, name = _name(request)
    task = request.match_info["task"]
    attempt_text = request.query.get("attempt", "")
    attempt = int(attempt_text) if attempt_text.isdigit() else None
    record = render.record(request)

    def read() -> tuple[list[str], str | None]:
        try:
            return list(record.log_lines(namespace, name, task, attempt, follow=False, tail=PAST_LOG_LINES)), None
        except data.Forbidden:
            raise
        except data.KuberunError as exc:
            return [], str(exc).splitlines()[0]

    lines, problem = await asyncio.to_thread(read)
    return render.html(request, "log.html", ns=namespace, name=name, task=task, attempt=attempt, lines=lines,
                       problem=problem, limit=PAST_LOG_LINES)
