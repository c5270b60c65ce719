"""HTML out: the Jinja2 environment (autoescaping everything), page and fragment responses.

Every value from the record (titles, labels, messages, log lines) reaches the page through Jinja2
with autoescaping on, for both HTML and the inline SVG; nothing is marked safe by hand. Fragments
(the parts that refresh live) carry an ETag over their bytes, so a poll that finds nothing new
costs a 304 and no DOM work.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import jinja2
from aiohttp import web

from kuberun.ui import data, security

KEYS = web.AppKey("keys", security.Secrets)
RECORD = web.AppKey("record", data.Record)
# In-cluster mode (``incluster``) gives each request its signed-in user's record and form token.
# (typed request keys where aiohttp has them, 3.12 on; plain strings before)
_RequestKey: Any = getattr(web, "RequestKey", None)
REQUEST_RECORD: Any = _RequestKey("record", data.Record) if _RequestKey else "kuberun.record"
REQUEST_CSRF: Any = _RequestKey("csrf", str) if _RequestKey else "kuberun.csrf"


def record(request: web.Request) -> data.Record:
    """The record as this request's user sees it: theirs in-cluster, the kubeconfig's on loopback."""
    own = request.get(REQUEST_RECORD)
    return own if own is not None else request.app[RECORD]


def csrf(request: web.Request) -> str:
    """The form token this request's pages carry and its POSTs must return."""
    return str(request.get(REQUEST_CSRF) or request.app[KEYS].csrf)

PHASE_CLASS = {"Succeeded": "ok", "Failed": "bad", "Cancelled": "warn", "Skipped": "muted", "Running": "run",
               "Submitted": "wait", "Pending": "wait"}


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("kuberun.ui", "templates"), autoescape=True,
                             undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["phase_class"] = lambda phase: PHASE_CLASS.get(str(phase), "wait")
    env.filters["num"] = data.format_number
    env.filters["age"] = lambda text: data.age(data.parse_time(text)) if text else "-"
    env.globals["progress"] = data.progress
    env.globals["phase_of"] = data.phase_of
    return env


def html(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    shown = record(request)
    body = environment().get_template(template).render(
        csrf=csrf(request), user=shown.user or "-", namespace="all namespaces" if shown.all_namespaces else shown.namespace,
        all_namespaces=shown.all_namespaces, request_path=request.path_qs, **context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def fragment(request: web.Request, template: str, headers: dict[str, str] | None = None, **context: Any) -> web.Response:
    """A live part of a page, answered 304 when its bytes match the browser's ETag."""
    body = environment().get_template(template).render(csrf=csrf(request), **context).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    extra = {"ETag": etag, **(headers or {})}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=extra)
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=extra)


def error(request: web.Request, status: int, message: str, title: str | None = None) -> web.Response:
    titles = {400: "Bad request", 401: "Access token needed", 403: "Forbidden", 404: "Not found", 421: "Wrong host",
              502: "Cluster unreachable", 503: "Busy"}
    body = environment().get_template("error.html").render(status=status, title=title or titles.get(status, "Error"),
                                                            message=message)
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    security.add_headers(response)
    return response
