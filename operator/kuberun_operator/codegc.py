"""Collect code package chunks no Experiment references any more, a grace period after the last one went.

Code packages are stored once per digest (``kuberun.packaging.configmaps``): ConfigMaps
``kuberun-code-<sha256>-<i>`` shared by every Experiment of the namespace that runs that code.
Owner references collect them on a cluster whose garbage collector runs, but at once, and a chunk
whose submit failed between the chunks and the Experiment has no owner at all. This collector is
the rule that holds everywhere: a package is *live* while any Experiment in its namespace names its
digest in ``spec.tasks[].code`` — pending, running or finished, so nothing a task still needs goes —
and is deleted only after it was seen unreferenced for ``grace`` seconds.

Two phases, so a submit racing the collector never loses its code:

1. A chunk seen unreferenced gets ``ANNOTATION_CODE_UNREFERENCED`` (when), written with the
   ``resourceVersion`` read; one referenced again loses it.
2. A chunk whose mark is older than ``grace`` is a candidate: the Experiments are listed *again*
   (after the chunk was read), and it is deleted with a ``resourceVersion`` precondition.

A submit that reuses a chunk (its create answered 409) first removes the mark (``manage/submit``),
a write that changes the ``resourceVersion``: before the collector's read, the mark is gone; between
the read and the delete, the precondition fails (409) and the chunk stays; after the delete, the
submit's patch gets 404 and it creates the chunk again. The Experiment is created only after that.

When an archive is configured, a chunk is deleted only once the archive holds its bytes
(``archive_blobs``, by the chunk's sha256): a ``reproduce`` months later then recreates it from the
archive under the same name. Without an archive, the grace period is the only protection.

Leader-only (shard 0's lease), bounded per pass (``limit`` writes), counted in
``kuberun_code_gc_total`` and said with an Event on the ConfigMap when one is deleted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kuberun.resource.code import (
    ANNOTATION_CODE_SHA256,
    ANNOTATION_CODE_UNREFERENCED,
    CHUNK_KEY,
    LABEL_CODE_DIGEST,
)
from kuberun.resource.times import format_time, parse_time
from kuberun_operator.kube import ApiError

log = logging.getLogger("kuberun_operator.codegc")
Obj = dict[str, Any]
# Which chunk contents (sha256 of a chunk's bytes) the archive holds, of those asked; None: no archive.
Archived = Callable[[set[str]], Awaitable[set[str]]]
Emit = Callable[[Obj, str, str, str], Awaitable[None]]


@dataclass
class Pass:
    """What one pass did (the metric's ``result`` labels)."""

    marked: int = 0
    unmarked: int = 0
    deleted: int = 0
    kept_referenced: int = 0
    kept_grace: int = 0
    kept_raced: int = 0
    kept_unarchived: int = 0
    deleted_names: list[str] = field(default_factory=list)

    def writes(self) -> int:
        return self.marked + self.unmarked + self.deleted + self.kept_raced


def digest_of(cm: Obj) -> str:
    meta = cm.get("metadata") or {}
    return str((meta.get("annotations") or {}).get(ANNOTATION_CODE_SHA256) or (meta.get("labels") or {}).get(LABEL_CODE_DIGEST) or "")


def referenced(experiments: Iterable[Obj]) -> set[tuple[str, str]]:
    """(namespace, sha256) of every code package an Experiment's spec names (by full digest)."""
    found = set()
    for exp in experiments:
        ns = (exp.get("metadata") or {}).get("namespace") or ""
        for task in (exp.get("spec") or {}).get("tasks") or []:
            code = task.get("code") if isinstance(task, dict) else None
            if isinstance(code, dict) and isinstance(code.get("sha256"), str):
                found.add((ns, code["sha256"]))
    return found


def _live(digest: str, ns: str, refs: set[tuple[str, str]]) -> bool:
    # the label holds at most 63 characters of the digest; the annotation (preferred) holds it whole
    return any(n == ns and (d == digest or d.startswith(digest)) for n, d in refs)


def chunk_sha256(cm: Obj) -> str | None:
    encoded = (cm.get("binaryData") or {}).get(CHUNK_KEY)
    try:
        return hashlib.sha256(base64.b64decode(encoded or "", validate=True)).hexdigest() if isinstance(encoded, str) else None
    except (binascii.Error, ValueError):
        return None


async def _list(kube: Any, namespaces: tuple[str, ...], what: str) -> list[Obj]:
    scopes: tuple[str | None, ...] = namespaces or (None,)
    found: list[Obj] = []
    for scope in scopes:
        found += await (kube.list_experiments(scope) if what == "experiments" else kube.list_config_maps(scope, LABEL_CODE_DIGEST))
    return found


async def collect(kube: Any, namespaces: tuple[str, ...], *, now: datetime, grace: float, limit: int = 100,
                  archived: Archived | None = None, emit: Emit | None = None) -> Pass:
    """One pass over the code chunks of ``namespaces`` (empty: all); at most ``limit`` writes."""
    done = Pass()
    chunks = sorted(await _list(kube, namespaces, "configmaps"), key=lambda c: (c["metadata"]["namespace"], c["metadata"]["name"]))
    refs = referenced(await _list(kube, namespaces, "experiments"))  # listed after the chunks were read
    candidates: list[Obj] = []
    for cm in chunks:
        if done.writes() >= limit:
            break
        meta = cm["metadata"]
        ns, mark = meta["namespace"], (meta.get("annotations") or {}).get(ANNOTATION_CODE_UNREFERENCED)
        if _live(digest_of(cm), ns, refs):
            done.kept_referenced += 1
            if mark is not None and await _annotate(kube, cm, None):
                done.unmarked += 1
        elif (since := _since(mark)) is None:  # not marked yet, or a mark that is no time: the grace starts now
            if await _annotate(kube, cm, format_time(now)):
                done.marked += 1
        elif now - since < timedelta(seconds=grace):
            done.kept_grace += 1
        else:
            candidates.append(cm)
    if not candidates:
        return done
    refs = referenced(await _list(kube, namespaces, "experiments"))  # the re-check: a submit since the first list
    held = await archived({s for c in candidates if (s := chunk_sha256(c))}) if archived is not None else None
    for cm in candidates:
        if done.writes() >= limit:
            break
        meta = cm["metadata"]
        if _live(digest_of(cm), meta["namespace"], refs):
            done.kept_referenced += 1
            continue
        if held is not None and chunk_sha256(cm) not in held:
            done.kept_unarchived += 1  # the recorder copies it when it records an Experiment that used it
            continue
        try:
            await kube.delete_config_map(meta["namespace"], meta["name"], meta["resourceVersion"])
        except ApiError as exc:
            if exc.status == 409:  # touched since it was read (a submit reusing it): keep it
                done.kept_raced += 1
                continue
            if exc.status == 404:
                continue
            raise
        done.deleted += 1
        done.deleted_names.append(f"{meta['namespace']}/{meta['name']}")
        if emit is not None:
            await emit(cm, "Normal", "CodePackageCollected",
                       f"code package {digest_of(cm)[:12]} chunk {meta['name']}: no Experiment has referenced it "
                       f"since {meta['annotations'][ANNOTATION_CODE_UNREFERENCED]} (grace {grace:g} s)"
                       + ("; the archive keeps a copy" if held is not None else ""))
    return done


def _since(mark: Any) -> datetime | None:
    try:
        return parse_time(mark)
    except ValueError:
        return None


async def _annotate(kube: Any, cm: Obj, value: str | None) -> bool:
    """Set (or, with None, remove) the mark on the version read; False when it changed meanwhile."""
    meta = cm["metadata"]
    patch = {"metadata": {"resourceVersion": meta["resourceVersion"], "annotations": {ANNOTATION_CODE_UNREFERENCED: value}}}
    try:
        await kube.patch_config_map(meta["namespace"], meta["name"], patch)
    except ApiError as exc:
        if exc.status in (404, 409):
            return False  # gone, or written meanwhile: the next pass reads it again
        raise
    return True


async def collect_forever(controller: Any, interval: float, grace: float, limit: int,
                          archived: Archived | None = None, emit: Emit | None = None) -> None:
    """Every ``interval`` seconds, one pass while this replica holds shard 0's lease. Runs until cancelled."""
    metrics = getattr(controller, "metrics", None)
    while True:
        await asyncio.sleep(interval)
        gate = controller.gate
        if gate is not None and 0 not in gate.held():
            continue
        try:
            done = await collect(controller.kube, controller.settings.namespaces, now=controller.clock.now(),
                                 grace=grace, limit=limit, archived=archived, emit=emit)
        except Exception as exc:  # the API or the archive is away: the next pass tries again
            log.warning("code gc: pass failed (%s); next in %g s", exc, interval)
            if metrics is not None:
                metrics.code_gc.labels(result="error").inc()
            continue
        if metrics is not None:
            for result in ("marked", "unmarked", "deleted", "kept_raced", "kept_unarchived"):
                metrics.code_gc.labels(result=result).inc(getattr(done, result))
        if done.deleted:
            log.info("code gc: deleted %d chunk(s): %s", done.deleted, ", ".join(done.deleted_names[:10]))


def start(controller: Any) -> asyncio.Task[None] | None:
    """The collector's task for ``controller`` (None when ``code_gc_seconds`` is 0): the archive check when
    the recorder has an archive, Events through the controller's sink."""
    settings = controller.settings
    if settings.code_gc_seconds <= 0:
        return None
    recorder = controller.recorder
    archived = recorder.blobs_held if recorder is not None and recorder.has_archive else None

    async def emit(cm: Obj, kind: str, reason: str, message: str) -> None:
        from kuberun_operator.actions import Event

        await controller.post_event({"apiVersion": "v1", "kind": "ConfigMap", **cm}, Event(kind, reason, message))

    return asyncio.create_task(collect_forever(controller, settings.code_gc_seconds, settings.code_gc_grace_seconds,
                                               settings.code_gc_limit, archived, emit), name="kuberun-code-gc")
