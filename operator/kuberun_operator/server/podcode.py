"""Code packages for task pods: a Kubernetes attempt downloads its own package over the ConfigMap limit.

    GET /v1/namespaces/{ns}/experiments/{name}/tasks/{task}/attempts/{n}/code/{sha256}

A package over 8 MiB is kept in the operator's log store (``code.py`` stores it for the submitter),
where a pod has no credentials. The pod has a token bound to it for the record server's audience,
as its uploads use, so it asks here, under its attempt's own base URL (``kuberun.resource.upload``).
The caller is the pod, authenticated by ``podauth``: 401 without a pod-bound token, 403 when the pod
does not run that attempt (another experiment, task, attempt or namespace). Then the live
Experiment's spec must name exactly that digest for that task, stored in the operator's store: any
other digest is 403 whether or not the store holds it, so a pod learns nothing about other packages.
The key is derived from the attempt's namespace, never from the URL's digest alone, so another
namespace's package is unreachable. Only then is the store read: 404 when the package is not there,
409 when the stored object's size is not the recorded one; otherwise the recorded size is streamed
(bounded memory, at most that many bytes). The runner checks size and sha256 again before it unpacks.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from kuberun.resource.code import CodeRef, in_store
from kuberun_operator.logstore import LogNotFoundError, LogStoreError, paths
from kuberun_operator.server import uploads
from kuberun_operator.server.auth import Forbidden
from kuberun_operator.server.routes import LOGS, status

log = logging.getLogger("kuberun.operator.server")
ROUTE = "/v1/namespaces/{namespace}/experiments/{name}/tasks/{task}/attempts/{attempt}/code/{sha256}"


def _named_code(exp: dict[str, Any] | None, task: str) -> CodeRef | None:
    """The code package the Experiment's spec records for ``task`` (None: none, or not one we can read)."""
    for entry in ((exp or {}).get("spec") or {}).get("tasks") or []:
        if isinstance(entry, dict) and entry.get("name") == task and entry.get("code") is not None:
            try:
                return CodeRef.model_validate(entry["code"])
            except ValidationError:
                return None
    return None


async def get_code(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    raw, sha256 = info["attempt"], info["sha256"]
    pods = request.app[uploads.PODS]
    if not raw.isdigit() or len(raw) > 7:
        await pods.identify(request.headers.get("Authorization"))  # 401 first, as for every pod route
        return status(400, "BadRequest", f"attempt must be a number, got {raw[:20]!r}")
    target = await pods.attempt(request.headers.get("Authorization"), info["namespace"], info["name"], info["task"],
                                int(raw))
    code = _named_code(await pods.experiment(target), target.task)
    if code is None or code.sha256 != sha256 or not in_store(code.storage, code.sha256):
        raise Forbidden(f'experiment "{target.experiment}" task "{target.task}" in namespace "{target.namespace}" does '
                        f"not ship a stored code package {sha256[:64]!r}: a pod may download only its own task's package")
    store = request.app[LOGS].store
    if store is None:
        return status(503, "ServiceUnavailable", "this operator keeps no log store, so it holds no code packages")
    key = paths.code_key(target.namespace, sha256)
    short = sha256[:12]
    try:
        stored = await store.size(key)
        if stored != code.size:
            return status(409, "Conflict", f"code package {short}: the store holds {stored} bytes, the record says "
                                           f"{code.size}; not served")
        chunks = await store.open_log(key, length=code.size)
    except LogNotFoundError:
        return status(404, "NotFound", f'code package {short} is not in the store of namespace "{target.namespace}"')
    except LogStoreError:
        return status(503, "ServiceUnavailable", "the log store could not be read; try again")
    response = web.StreamResponse(headers={"Content-Type": "application/gzip", "Content-Length": str(code.size),
                                           "X-Kuberun-Sha256": sha256})
    await response.prepare(request)
    try:
        async for chunk in chunks:
            await response.write(chunk)
    except LogStoreError as exc:  # headers are sent: end the connection short, and the runner tries again
        log.warning("record server: code package %s for %s/%s ended early: %s", short, target.namespace,
                    target.experiment, exc)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    """Needs ``uploads.add_routes`` first (its ``PodAuthenticator``)."""
    app.router.add_get(ROUTE, get_code)
