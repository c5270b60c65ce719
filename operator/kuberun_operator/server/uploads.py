"""Uploads from task pods: a Kubernetes attempt's metric series and artifacts, into its own store prefix.

    PUT /v1/namespaces/{ns}/experiments/{name}/tasks/{task}/attempts/{n}/metrics           metrics.jsonl
    PUT /v1/namespaces/{ns}/experiments/{name}/tasks/{task}/attempts/{n}/artifacts/{path}  one artifact
    PUT /v1/namespaces/{ns}/experiments/{name}/tasks/{task}/attempts/{n}/nodes/{k}/artifacts/{path}
                                                                                   node k's artifact, as nodes/<k>/<path>

The caller is a pod, authenticated by its pod-bound token (``podauth``): 401 without one, 403 when
the pod does not run that attempt. Only then is anything read from the body. Every upload goes
under the attempt's own prefix (``logstore.paths``), so no URL can reach another attempt's keys:
a path with ``..``, ``.``, empty or control-character components is 400 before any byte is stored.
Bodies stream into the store (bounded memory) and need a ``Content-Length``: one file at most
``max_file_bytes``, the attempt's artifacts together ``max_attempt_bytes`` in ``max_files`` files
(413 otherwise, nothing written). Each artifact upload rewrites the attempt's manifest
(``artifacts.manifest.json``: path, size, sha256) under the store's per-prefix lock, so
``kuberun artifacts`` lists and verifies them exactly as it does synced ones; the operator copies
the manifest's summary into the attempt's status (``recording/artifacts.py``).

On a multi-node attempt node 0 (the Indexed Job's pod 0) keeps the attempt's own route: the summary,
the series and its artifacts. Every other pod uploads its artifacts on its node's route, accepted only
when ``k`` is the pod's own completion index (read from the pod, ``podauth``); they land in the same
manifest under ``nodes/<k>/``, a top-level name the attempt's own route refuses, so no pod can write
another node's files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from kuberun.resource import upload
from kuberun.resource.results import METRICS_FILE
from kuberun_operator.logstore import (
    LogNotFoundError,
    LogStoreError,
    Manifest,
    ManifestEntry,
    UnsafePathError,
    paths,
)
from kuberun_operator.logstore.artifacts import read_manifest
from kuberun_operator.server.podauth import PodAttempt, PodAuthenticator

CHUNK = 1 << 20


@dataclass(frozen=True)
class UploadLimits:
    max_file_bytes: int = upload.MAX_FILE_BYTES
    max_attempt_bytes: int = upload.MAX_ATTEMPT_BYTES
    max_files: int = upload.MAX_FILES
    max_series_bytes: int = upload.MAX_SERIES_BYTES


PODS, LIMITS = web.AppKey("pods", PodAuthenticator), web.AppKey("upload_limits", UploadLimits)


class UploadRefused(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


def _status(exc: UploadRefused) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": str(exc), "reason": exc.reason, "code": exc.code}, status=exc.code)


async def _attempt(request: web.Request) -> PodAttempt:
    info = request.match_info
    raw = info.get("attempt", "")
    if not raw.isdigit() or len(raw) > 7:
        raise UploadRefused(400, "BadRequest", f"attempt must be a number, got {raw[:20]!r}")
    return await request.app[PODS].attempt(request.headers.get("Authorization"), info["namespace"], info["name"],
                                           info["task"], int(raw))


def _length(request: web.Request, limit: int, what: str) -> int:
    if request.content_length is None:
        raise UploadRefused(411, "LengthRequired", f"{what}: a Content-Length is required")
    if request.content_length > limit:
        raise UploadRefused(413, "RequestEntityTooLarge",
                            f"{what}: {request.content_length} bytes, more than the {limit} allowed; nothing written")
    return request.content_length


async def _body(request: web.Request, expected: int) -> AsyncIterator[bytes]:
    got = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        got += len(chunk)
        yield chunk
    if got != expected:  # the client went away mid-body: the store discards the partial object
        raise UploadRefused(400, "BadRequest", f"the body ended after {got} of {expected} bytes; nothing written")


def _store(request: web.Request) -> Any:
    from kuberun_operator.server.routes import LOGS

    store = request.app[LOGS].store
    if store is None:
        raise UploadRefused(503, "ServiceUnavailable", "this operator keeps no log store: uploads are not accepted")
    return store


def _relative(request: web.Request) -> tuple[str, int | None]:
    """The artifact's path below ``artifacts/``, from the raw URL: decoded per component, then checked;
    with the node it was sent for (None: the attempt's own route)."""
    # "" v1 namespaces {ns} experiments {name} tasks {task} attempts {n} artifacts <rest>: the rest is the path,
    # whatever the names are (an experiment may be called "artifacts"); or ... {n} nodes {k} artifacts <rest>.
    pieces = request.raw_path.split("?", 1)[0].split("/", 13)
    node: int | None = None
    if len(pieces) >= 12 and pieces[10] == upload.ARTIFACTS:
        tail = "/".join(pieces[11:])
    elif len(pieces) == 14 and pieces[10] == upload.NODES and pieces[12] == upload.ARTIFACTS:
        if not pieces[11].isdigit() or len(pieces[11]) > 5 or pieces[11] != str(int(pieces[11])):
            raise UploadRefused(400, "BadRequest", f"node must be a number, got {pieces[11][:20]!r}; nothing written")
        node, tail = int(pieces[11]), pieces[13]
    else:
        tail = ""
    try:
        relative = "/".join(unquote(part, errors="strict") for part in tail.split("/"))
        paths.parts(relative, "artifact path")
    except UnicodeDecodeError:
        raise UploadRefused(400, "BadRequest", "artifact path: not valid UTF-8; nothing written") from None
    except UnsafePathError as exc:
        raise UploadRefused(400, "BadRequest", f"{exc}; nothing written") from None
    if node is None and relative.split("/", 1)[0] == upload.NODES:
        raise UploadRefused(400, "BadRequest", f"artifact path {relative!r}: {upload.NODES}/ holds the other nodes' "
                            "files (each uploads on its own node's route); nothing written")
    return (relative if node is None else f"{upload.NODES}/{node}/{relative}"), node


async def put_metrics(request: web.Request) -> web.Response:
    try:
        target = await _attempt(request)
        size = _length(request, request.app[LIMITS].max_series_bytes, "metric series")
        store = _store(request)
        key = paths.join(paths.attempt_prefix(target.namespace, target.experiment, target.uid, target.task,
                                              target.attempt), METRICS_FILE)
        location = await store.put_stream(key, _body(request, size))
    except UploadRefused as exc:
        return _status(exc)
    except LogStoreError as exc:
        return _status(UploadRefused(503, "ServiceUnavailable", f"the log store cannot take the series now: {exc}"))
    return web.json_response({"size": location.size, "sha256": location.sha256}, status=201)


async def put_artifact(request: web.Request) -> web.Response:
    try:
        relative, node = _relative(request)
        target = await _attempt(request)
        if node is not None and node != target.node:
            raise UploadRefused(403, "Forbidden", f'pod "{target.pod}" is node {target.node} of its attempt: it may '
                                f"upload only its own node's files, not node {node}'s")
        limits = request.app[LIMITS]
        size = _length(request, limits.max_file_bytes, f"artifact {relative!r}")
        store = _store(request)
        prefix = paths.artifacts_prefix(target.namespace, target.experiment, target.uid, target.task, target.attempt)
        key = paths.join(prefix, relative, "artifact path")
        async with store.sync_lock(prefix):
            manifest = await _manifest(store, prefix)
            entries = manifest.by_path()
            old = entries.get(relative)
            if old is None and len(entries) >= limits.max_files:
                raise UploadRefused(413, "RequestEntityTooLarge",
                                    f"the attempt already has {len(entries)} artifacts, the most allowed; nothing written")
            total = manifest.total_bytes - (old.size if old is not None else 0) + size
            if total > limits.max_attempt_bytes:
                raise UploadRefused(413, "RequestEntityTooLarge", f"the attempt's artifacts would total {total} bytes, "
                                    f"more than the {limits.max_attempt_bytes} allowed; nothing written")
            location = await store.put_stream(key, _body(request, size))
            entries[relative] = ManifestEntry(path=relative, size=location.size, sha256=location.sha256)
            updated = Manifest(entries=sorted(entries.values(), key=lambda e: e.path), skipped=manifest.skipped,
                               skipped_total=manifest.skipped_total, uploaded=[relative])
            await store.put_bytes(paths.manifest_key(prefix), updated.model_dump_json().encode())
    except UploadRefused as exc:
        return _status(exc)
    except LogStoreError as exc:
        return _status(UploadRefused(503, "ServiceUnavailable", f"the log store cannot take the artifact now: {exc}"))
    return web.json_response({"path": relative, "size": location.size, "sha256": location.sha256}, status=201)


async def _manifest(store: Any, prefix: str) -> Manifest:
    try:
        return await read_manifest(store, prefix)
    except LogNotFoundError:
        return Manifest()
    except LogStoreError as exc:
        raise UploadRefused(503, "ServiceUnavailable", f"the attempt's manifest cannot be read now: {exc}") from None


def add_routes(app: web.Application, pods: PodAuthenticator, limits: UploadLimits) -> None:
    app[PODS], app[LIMITS] = pods, limits
    base = "/v1/namespaces/{namespace}/experiments/{name}/tasks/{task}/attempts/{attempt}"
    app.router.add_put(f"{base}/{upload.METRICS}", put_metrics)
    app.router.add_put(base + "/" + upload.ARTIFACTS + "/{path:.+}", put_artifact)
    app.router.add_put(base + "/" + upload.NODES + "/{node}/" + upload.ARTIFACTS + "/{path:.+}", put_artifact)
