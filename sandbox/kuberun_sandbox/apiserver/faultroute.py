"""``/_sandbox/faults``: fault injection over HTTP, for the sandbox administrator only.

Why over HTTP: the chaos suite runs the API server in its own process (so it can be SIGKILLed),
and a test can then only reach it through its port. The route is authenticated like every
request and allowed only to ``system:masters`` — checked here instead of RBAC, so no role
binding can hand it to a user. Fault-injection itself never applies to this route.

- ``GET /_sandbox/faults``: the faults set, with their hit counts.
- ``POST /_sandbox/faults``: add one (a JSON ``Fault``: ``status``, ``times``, ``verb``, ``group``,
  ``resource``, ``namespace``, ``name``, ``user_agent``, ``delay``, ``drop_after``, ``probability``);
  201 with it.
- ``DELETE /_sandbox/faults`` (all) or ``/_sandbox/faults/ID`` (one).
- ``POST /_sandbox/faults/seed`` ``{"seed": N}``: reseed the generator probabilities draw from.
- ``POST /_sandbox/watches/drop``: abort every open watch connection now; answers how many.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import faults
from .auth.attributes import unauthorized
from .auth.authn import MASTERS, UserInfo
from .errors import ApiError, method_not_allowed, not_found
from .handlers import respond

PREFIX = "/_sandbox/"


def is_admin_route(path: str) -> bool:
    return path.startswith(PREFIX)


async def serve(request: web.Request, user: UserInfo, faultset: faults.FaultSet,
                drop_watches: Callable[[], int]) -> web.Response:
    """Answer one admin request from ``user`` (authenticated, not yet authorized: done here)."""
    if user.anonymous:
        raise unauthorized()
    if MASTERS not in user.groups:
        raise ApiError(403, "Forbidden", f'User "{user.username}" cannot use {request.path}: only the sandbox '
                                         f"administrator ({MASTERS}) may inject faults")
    path, method = request.path.rstrip("/"), request.method
    if path == "/_sandbox/watches/drop":
        if method != "POST":
            raise method_not_allowed(method)
        return respond({"dropped": drop_watches()})
    if path == "/_sandbox/faults/seed":
        if method != "POST":
            raise method_not_allowed(method)
        body = await _body(request)
        seed = body.get("seed") if isinstance(body, dict) else None
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ApiError(400, "BadRequest", 'the body must be {"seed": <integer>}')
        faultset.seed(seed)
        return respond({"seed": seed})
    if path == "/_sandbox/faults":
        if method == "GET":
            return respond({"items": [f.to_dict() for f in faultset.faults]})
        if method == "POST":
            try:
                fault = faultset.add(faults.from_dict(await _body(request)))
            except (TypeError, ValueError) as e:
                raise ApiError(400, "BadRequest", f"invalid fault: {e}") from None
            return respond(fault.to_dict(), 201)
        if method == "DELETE":
            return respond({"deleted": faultset.clear()})
        raise method_not_allowed(method)
    tail = path.removeprefix("/_sandbox/faults/")
    if tail != path and tail.isdigit() and method == "DELETE":
        if not faultset.remove(int(tail)):
            raise ApiError(404, "NotFound", f"no fault {tail}")
        return respond({"deleted": 1})
    raise not_found("", "", None)


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"{}")
    except ValueError as e:
        raise ApiError(400, "BadRequest", f"the body is not JSON: {e}") from None
