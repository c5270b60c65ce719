"""Code packages over the ConfigMap limit: uploaded by their submitter, stored once per digest.

A package up to 8 MiB travels as ConfigMaps the submitter creates with their own RBAC. A larger one
would load etcd with data that belongs in an object store, so the SDK uploads it here and the
operator keeps it in its log store (``<namespace>/code/<sha256>.tar.gz``). The route is authorized
as the submit itself would be: the caller's own token (TokenReview) must be allowed to ``create``
experiments in the namespace (SubjectAccessReview). No credential is handed out and nothing is
written anywhere a task did not say.

    HEAD /v1/namespaces/{ns}/code/{sha256}    200 stored, 404 not        create experiments in {ns}
    PUT  /v1/namespaces/{ns}/code/{sha256}    201 stored, 200 was already create experiments in {ns}

The body streams into the store one chunk at a time (bounded memory whatever the size);
``Content-Length`` is required and at most ``MAX_PACKAGE_BYTES``; the store commits only if the
bytes have exactly that length and sha256 (a hostile or truncated upload leaves nothing behind).
Content-addressed: a digest once stored is never overwritten, and uploading it again answers 200.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from aiohttp import web

from kuberun.resource import constants
from kuberun.resource.constants import MAX_PACKAGE_BYTES
from kuberun_operator.logstore import IntegrityError, LogStore, LogStoreError, paths
from kuberun_operator.server import auth
from kuberun_operator.server.routes import status

STREAM_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LABEL = re.compile(constants.DNS1123_LABEL)


class Refused(Exception):
    """A request this route answers with a Status document (code, reason, message)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


class CodeRoutes:
    """The two routes over one store (None: this operator keeps none, and says so with a 503)."""

    def __init__(self, reviewer: auth.Reviewer, store: LogStore | None) -> None:
        self.reviewer, self.store = reviewer, store

    async def _authorized(self, request: web.Request) -> tuple[LogStore, str, str]:
        ns, sha256 = request.match_info["namespace"], request.match_info["sha256"]
        who = await self.reviewer.authenticate(request.headers.get("Authorization"))
        await self.reviewer.require(who, "create", ns)
        if not _LABEL.match(ns) or not _SHA256.match(sha256):
            raise Refused(400, "BadRequest", "expected /v1/namespaces/<namespace>/code/<sha256: 64 lowercase hex digits>")
        if self.store is None:
            raise Refused(503, "ServiceUnavailable", "this operator keeps no log store, so it cannot hold code packages "
                                                     "over the ConfigMap limit: package less, or ask the admin for one")
        return self.store, paths.code_key(ns, sha256), sha256

    async def head(self, request: web.Request) -> web.Response:
        try:
            store, key, _ = await self._authorized(request)
            if not await store.exists(key):
                return web.Response(status=404)
            return web.Response(status=200, headers={"X-Kuberun-Size": str(await store.size(key))})
        except Refused as exc:
            return web.Response(status=exc.code)  # a HEAD answer has no body
        except LogStoreError:
            return web.Response(status=503)

    async def put(self, request: web.Request) -> web.Response:
        try:
            return await self._put(request)
        except Refused as exc:
            return status(exc.code, exc.reason, str(exc))
        except LogStoreError:
            return status(503, "ServiceUnavailable", "the log store could not be reached; try again")

    async def _put(self, request: web.Request) -> web.Response:
        store, key, sha256 = await self._authorized(request)
        size = request.content_length
        if size is None:
            raise Refused(411, "LengthRequired", "Content-Length is required")
        if size > MAX_PACKAGE_BYTES:
            raise Refused(413, "RequestEntityTooLarge", f"a code package is at most {MAX_PACKAGE_BYTES} bytes; this one is {size}")
        if await store.exists(key):
            return web.json_response({"sha256": sha256, "size": await store.size(key), "stored": False}, status=200)

        async def body() -> AsyncIterator[bytes]:
            async for chunk in request.content.iter_chunked(STREAM_CHUNK):
                yield chunk

        try:
            location = await store.put_stream(key, body(), expect=(size, sha256))
        except IntegrityError:
            raise Refused(400, "BadRequest", f"the body is not the package {sha256}: its size or sha256 differ; "
                                             "nothing was stored") from None
        except LogStoreError:
            raise Refused(503, "ServiceUnavailable", "the log store could not take the package; try again") from None
        return web.json_response({"sha256": sha256, "size": location.size, "stored": True}, status=201)


def add_routes(app: web.Application, routes: CodeRoutes) -> None:
    app.router.add_route("HEAD", "/v1/namespaces/{namespace}/code/{sha256}", routes.head)
    app.router.add_put("/v1/namespaces/{namespace}/code/{sha256}", routes.put)
