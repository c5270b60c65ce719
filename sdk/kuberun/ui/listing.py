"""The experiments list: filters, sorting, server-side pages, metric columns, live rows.

Paging is the API server's (``limit`` + ``continue``), so the first page of 10,000 experiments
costs one list call of ``limit`` objects, never a read of all of them. Title and user filters are
label selectors the server applies; phase and age are applied to each page as it arrives (the
SDK's ``list_page`` keeps reading until a page is full). The API cannot sort, so sorting orders
the page shown, like ``kuberun list``; the page says so. ``archived=1`` lists the operator's
archive instead (experiments whose objects may be gone), through its record server as the user.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from kuberun.ui import data, render

FILTERS = ("title", "user", "label", "phase", "since", "archived")
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")
SORTS = {
    "created": lambda o: (o.get("metadata") or {}).get("creationTimestamp") or "",
    "name": lambda o: (o.get("metadata") or {}).get("name") or "",
    "title": lambda o: str((o.get("spec") or {}).get("title") or ""),
    "phase": data.phase_of,
    "submitter": lambda o: str((o.get("spec") or {}).get("submittedBy") or ""),
}
PAGE_SIZES = (20, 50, 100, 200)
MAX_METRIC_COLUMNS = 4


def _params(request: web.Request) -> dict[str, str]:
    q = request.query
    out = {k: q.get(k, "").strip() for k in FILTERS}
    out["sort"] = q.get("sort", "created") if q.get("sort") in SORTS else "created"
    out["dir"] = "asc" if q.get("dir") == "asc" else "desc"
    out["limit"] = q.get("limit", "50") if q.get("limit", "50").isdigit() and int(q.get("limit", "50")) in PAGE_SIZES else "50"
    out["continue"] = q.get("continue", "")
    return out


def _rows(items: list[dict[str, Any]], params: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    items = sorted(items, key=SORTS[params["sort"]], reverse=params["dir"] == "desc")
    metrics = [data.last_values(o) for o in items]
    names = sorted({n for m in metrics for n in m})[:MAX_METRIC_COLUMNS]
    rows = []
    for obj, values in zip(items, metrics, strict=True):
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        rows.append({"namespace": meta.get("namespace", ""), "name": meta.get("name", ""), "title": str(spec.get("title", "")),
                     "phase": data.phase_of(obj), "progress": data.progress(obj), "submitter": str(spec.get("submittedBy") or "-"),
                     "created": meta.get("creationTimestamp"), "metrics": [values.get(n) for n in names],
                     "reproduced_from": (meta.get("labels") or {}).get(data.LABEL_REPRODUCED_FROM),
                     "archived": data.is_archived(obj)})
    return rows, names


async def _page(request: web.Request, params: dict[str, str]) -> data.Page:
    record = render.record(request)
    return await asyncio.to_thread(record.list_page, title=params["title"], user=params["user"], phase=params["phase"],
                                   selector=params["label"], since=params["since"], limit=int(params["limit"]),
                                   continue_token=params["continue"], archived=params["archived"] == "1")


def _link(params: dict[str, str], **changes: str) -> str:
    merged = {**params, **changes}
    return "/?" + urlencode({k: v for k, v in merged.items() if v})


async def experiment_list(request: web.Request) -> web.Response:
    params = _params(request)
    problem = None
    try:
        page = await _page(request, params)
    except ValueError as exc:  # a bad age filter, e.g. since=yesterday
        page, problem = data.Page([], None, None), str(exc)
    except data.KuberunError as exc:
        if isinstance(exc, data.Forbidden):
            raise
        page, problem = data.Page([], None, None), str(exc).splitlines()[0]
    rows, metric_names = _rows(page.items, params)
    sort_links = {key: _link(params, sort=key, dir="asc" if params["sort"] == key and params["dir"] == "desc" else "desc",
                             **{"continue": ""}) for key in SORTS}
    live_query = urlencode({k: v for k, v in params.items() if v})
    return render.html(request, "list.html", params=params, rows=rows, metric_names=metric_names, phases=PHASES,
                       page_sizes=PAGE_SIZES, sort_links=sort_links, problem=problem,
                       next_link=_link(params, **{"continue": page.continue_token}) if page.continue_token else None,
                       first_link=_link(params, **{"continue": ""}) if params["continue"] else None,
                       remaining=page.remaining, live_src=f"/fragments/list?{live_query}", status=400 if problem else 200)


async def list_rows(request: web.Request) -> web.Response:
    """The table body alone, for the live refresh (304 when unchanged)."""
    params = _params(request)
    page = await _page(request, params)
    rows, metric_names = _rows(page.items, params)
    return render.fragment(request, "_rows.html", rows=rows, metric_names=metric_names,
                           all_namespaces=render.record(request).all_namespaces)
