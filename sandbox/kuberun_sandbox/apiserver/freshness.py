"""Reads "not older than" a resourceVersion: wait for it briefly, or refuse it as too large.

Why: a client that resumes with a resourceVersion the server has not reached (its state went
backwards, or the RV came from another server) must be told so, not served silently. What
kube-apiserver 1.35 does, as measured against a real one (etcd 3.6, the watch cache on):

- a get or list with ``resourceVersion=N`` (no match, ``NotOlderThan`` or ``Exact``) above the
  current one waits up to 3 s for the cache to catch up (``blockTimeout``), then answers
  ``504`` ``Timeout``: "Timeout: Too large resource version: N, current: C", with
  ``details.causes[0].reason = ResourceVersionTooLarge`` and ``retryAfterSeconds: 1``; if N is
  reached in time, it answers as usual;
- a watch from such an N is accepted (200) and delivers only the events after N, as any watch
  from N does: no error, nothing from before N (that part lives in ``watch.py``).

``resourceVersion`` that is not a number is a 400 ``BadRequest`` for a get or list.
"""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError
from .store import Store

WAIT_S = 3.0  # kube-apiserver's watch cache blockTimeout


def requested(request: web.Request) -> int | None:
    """The ``resourceVersion`` a get/list asks for; None for "any" ("" or "0")."""
    raw = request.query.get("resourceVersion", "")
    if raw in ("", "0"):
        return None
    if not raw.isdigit():
        raise ApiError(400, "BadRequest", f'invalid resource version: resourceVersion: Invalid value: "{raw}": '
                                          f'strconv.ParseUint: parsing "{raw}": invalid syntax')
    return int(raw)


def too_large(rv: int, current: int) -> ApiError:
    return ApiError(504, "Timeout", f"Timeout: Too large resource version: {rv}, current: {current}",
                    {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                     "retryAfterSeconds": 1})


async def ensure_reached(store: Store, request: web.Request, wait_s: float = WAIT_S) -> None:
    """Return once the store is at least at the requested resourceVersion; a 504 after ``wait_s``."""
    rv = requested(request)
    if rv is not None and not await store.wait_for(rv, wait_s):
        raise too_large(rv, store.resource_version)
