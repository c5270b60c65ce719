"""The record server's routes, and the one verb each needs (see docs/record-server.md).

    GET /v1/namespaces/{ns}/experiments/{name}/logs         get experiments {name} in {ns}
    GET /v1/namespaces/{ns}/experiments/{name}/attempts     get experiments {name} in {ns}
    GET /v1/archive/namespaces/{ns}/experiments/{name}      get experiments {name} in {ns}
    GET /v1/archive/namespaces/{ns}/experiments             list experiments in {ns}
    GET /v1/archive/experiments                             list experiments: cluster-wide, or per namespace
    GET /v1/namespaces/{ns}/experiments/{name}/metrics      get experiments {name} in {ns} (series.py)

Every route authenticates first (401 without a valid bearer token), then authorizes (403), and
only then reads anything, so an error never tells a caller whether something exists that it may
not see. Errors are Kubernetes ``Status`` documents. A cross-namespace list shows the namespaces
the caller may list and silently leaves out the rest, the way a filtered Kubernetes list would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from kuberun.resource.times import parse_time
from kuberun_operator.server import auth
from kuberun_operator.server.logs import LogReader, LogRequest, LogUnavailable, finished, pick
from kuberun_operator.server.records import Records, document

log = logging.getLogger("kuberun.operator.server")

REVIEWER, RECORDS, LOGS = web.AppKey("reviewer", auth.Reviewer), web.AppKey("records", Records), web.AppKey("logs", LogReader)
MAX_SCAN_PAGES = 5   # archive pages a cross-namespace list reads per request before answering with a token
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_TAIL = 1_000_000


class BadRequest(Exception):
    pass


def status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason, "code": code}, status=code)


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Typed failures as Status documents; anything unexpected as a 500 that says nothing internal."""
    try:
        return await handler(request)
    except auth.Unauthorized:
        return status(401, "Unauthorized", "Unauthorized")
    except auth.Forbidden as exc:
        return status(403, "Forbidden", str(exc))
    except auth.ReviewUnavailable as exc:
        log.warning("record server: %s", exc)
        return status(503, "ServiceUnavailable", "the API server could not review the request; try again")
    except BadRequest as exc:
        return status(400, "BadRequest", str(exc))
    except LogUnavailable as exc:
        return status(exc.code, {400: "BadRequest", 403: "Forbidden", 503: "ServiceUnavailable"}.get(exc.code, "NotFound"),
                      str(exc))
    except (web.HTTPException, ConnectionResetError):
        raise
    except Exception as exc:
        from kuberun_operator.archive import ArchiveError, ArchiveUnavailable

        if isinstance(exc, ArchiveUnavailable):
            return status(503, "ServiceUnavailable", "the archive is unavailable; try again")
        if isinstance(exc, ArchiveError):  # InvalidQuery, InvalidContinueToken: the caller's input
            return status(400, "BadRequest", str(exc))
        log.exception("record server: %s %s failed", request.method, request.path)
        return status(500, "InternalError", "internal error")


async def _caller(request: web.Request) -> auth.Identity:
    return await request.app[REVIEWER].authenticate(request.headers.get("Authorization"))


async def logs(request: web.Request) -> web.StreamResponse:
    ns, name = request.match_info["namespace"], request.match_info["name"]
    who = await _caller(request)
    reviewer = request.app[REVIEWER]
    await reviewer.require(who, "get", ns, name)
    q = request.query
    req = LogRequest(task=q.get("task") or None, attempt=_int(q, "attempt", 0, 1 << 20),
                     follow=_flag(q, "follow"), tail=_int(q, "tail", 0, MAX_TAIL),
                     component=_int(q, "component", 0, 1 << 10))  # checked against the task's components
    records = request.app[RECORDS]
    obj = await records.either(ns, name, q.get("uid") or None)
    if obj is None:
        raise LogUnavailable(f'experiment "{name}" not found in namespace "{ns}" (nor in the archive)')

    async def still_running(attempt: int) -> bool:
        # Follow only as long as the caller may still read it and the attempt has not finished.
        if not await reviewer.allowed(who, "get", ns, name):
            return False
        current = await records.live(ns, name)
        if current is None:
            return False
        try:
            return not finished(pick(current, req.task, attempt)[1])
        except LogUnavailable:
            return False

    attempt, chunks = await request.app[LOGS].open(obj, req, still_running)
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8", "X-Kuberun-Attempt": str(attempt),
                                           "X-Content-Type-Options": "nosniff"})
    await response.prepare(request)
    try:
        async for chunk in chunks:
            await response.write(chunk)
    except (ConnectionResetError, asyncio.CancelledError):
        raise  # the caller went away: nothing to tell it
    except Exception as exc:  # headers are sent: end the body with the reason, as kubectl logs shows it
        log.warning("record server: log stream of %s/%s ended: %s", ns, name, exc)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        with contextlib.suppress(ConnectionResetError):
            await response.write(f"\nkuberun: the log stream ended early: {reason}\n".encode())
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    await response.write_eof()
    return response


async def attempts(request: web.Request) -> web.Response:
    """Every archived attempt of the experiment (live, or archived; ``uid`` picks one): the history its
    status may have dropped to stay under budget."""
    ns, name = request.match_info["namespace"], request.match_info["name"]
    who = await _caller(request)
    await request.app[REVIEWER].require(who, "get", ns, name)
    records = request.app[RECORDS]
    if records.archive is None:
        return status(503, "ServiceUnavailable", "this operator keeps no archive")
    obj = await records.either(ns, name, request.query.get("uid") or None)
    if obj is None:
        return status(404, "NotFound", f'experiment "{name}" not found in namespace "{ns}" (nor in the archive)')
    uid = str((obj.get("metadata") or {}).get("uid") or "")
    items = [{"task": task, "attempt": entry} for task, entry in await records.history(uid)] if uid else []
    return web.json_response({"kind": "AttemptHistory", "apiVersion": "kuberun.dev/v1alpha1",
                              "metadata": {"namespace": ns, "name": name, "uid": uid}, "items": items})


async def archived_one(request: web.Request) -> web.Response:
    ns, name = request.match_info["namespace"], request.match_info["name"]
    who = await _caller(request)
    await request.app[REVIEWER].require(who, "get", ns, name)
    doc = await request.app[RECORDS].archived(ns, name, request.query.get("uid") or None)
    if doc is None:
        return status(404, "NotFound", f'experiment "{name}" is not in the archive of namespace "{ns}"')
    return web.json_response(doc)


async def archived_config_maps(request: web.Request) -> web.Response:
    """The large configs and code chunks of an archived experiment: what ``reproduce`` needs once they are gone."""
    ns, name = request.match_info["namespace"], request.match_info["name"]
    who = await _caller(request)
    await request.app[REVIEWER].require(who, "get", ns, name)
    items = await request.app[RECORDS].config_maps(ns, name, request.query.get("uid") or None)
    if items is None:
        return status(404, "NotFound", f'experiment "{name}" is not in the archive of namespace "{ns}"')
    return web.json_response({"kind": "ConfigMapList", "apiVersion": "v1", "items": items})


async def metric_series(request: web.Request) -> web.Response:
    from kuberun_operator.server.series import series_of

    ns, name = request.match_info["namespace"], request.match_info["name"]
    who = await _caller(request)
    await request.app[REVIEWER].require(who, "get", ns, name)
    records = request.app[RECORDS]
    obj = await records.either(ns, name, request.query.get("uid") or None)
    if obj is None:
        return status(404, "NotFound", f'experiment "{name}" not found in namespace "{ns}" (nor in the archive)')
    return web.json_response(await series_of(obj, records.archive, request.app[LOGS].store))


async def archived_list(request: web.Request) -> web.Response:
    ns = request.match_info.get("namespace")
    who = await _caller(request)
    reviewer = request.app[REVIEWER]
    if ns is not None:
        await reviewer.require(who, "list", ns)
    archive = request.app[RECORDS].archive
    if archive is None:
        return status(503, "ServiceUnavailable", "this operator keeps no archive")
    q = request.query
    limit = _int(q, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    filters = _filters(q)
    token = q.get("continue") or None
    if ns is not None or await reviewer.allowed(who, "list", ""):
        items, token = await archive.query(ns, limit=limit, continue_token=token, **filters)
        return _page(items, token)
    # Cross-namespace without cluster-wide list: keep the namespaces this caller may list.
    shown: list[Any] = []
    for _ in range(MAX_SCAN_PAGES):
        items, token = await archive.query(None, limit=limit, continue_token=token, **filters)
        for rec in items:
            if await reviewer.allowed(who, "list", rec.namespace):
                shown.append(rec)
        if token is None or len(shown) >= limit:
            break
    return _page(shown, token)


def _page(items: list[Any], token: str | None) -> web.Response:
    return web.json_response({"kind": "ArchivedExperimentList", "apiVersion": "kuberun.dev/v1alpha1",
                              "metadata": {"continue": token} if token else {},
                              "items": [document(rec, full=False) for rec in items]})


def _filters(q: Any) -> dict[str, Any]:
    labels: dict[str, str] = {}
    for term in q.getall("label", []):
        for item in filter(None, term.split(",")):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise BadRequest(f"label {item!r}: expected key=value")
            labels[key.strip()] = value.strip()
    phases = q.getall("phase", [])
    return {"title": q.get("title") or None, "submitter": q.get("user") or None, "labels": labels or None,
            "phase": phases or None, "since": _time(q, "since"), "until": _time(q, "until")}


def _time(q: Any, key: str) -> datetime | None:
    text = q.get(key)
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise BadRequest(f"{key} {text[:40]!r}: expected an RFC 3339 time such as 2026-01-02T03:04:05Z") from None


def _int(q: Any, key: str, low: int, high: int) -> int | None:
    text = q.get(key)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{key} must be an integer, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{key} must be from {low} to {high}")
    return value


def _flag(q: Any, key: str) -> bool:
    return (q.get(key) or "").lower() in ("1", "true", "yes")


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/namespaces/{namespace}/experiments/{name}/logs", logs)
    app.router.add_get("/v1/namespaces/{namespace}/experiments/{name}/attempts", attempts)
    app.router.add_get("/v1/namespaces/{namespace}/experiments/{name}/metrics", metric_series)
    app.router.add_get("/v1/archive/namespaces/{namespace}/experiments/{name}", archived_one)
    app.router.add_get("/v1/archive/namespaces/{namespace}/experiments/{name}/configmaps", archived_config_maps)
    app.router.add_get("/v1/archive/namespaces/{namespace}/experiments", archived_list)
    app.router.add_get("/v1/archive/experiments", archived_list)
