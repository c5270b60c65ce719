"""Watch streams: newline-delimited JSON events, resumable from a resourceVersion.

Written here rather than taken from kmock, whose watch ignores ``resourceVersion``,
``timeoutSeconds`` and selectors, sends no bookmarks and streams ``application/octet-stream``
(which kubectl rejects). The snapshot (or the history replay) and the subscription are taken in
one synchronous step, so no event can fall between them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kuberun.aiowait import wait_for

from . import codec, tables
from .handlers import Handlers, Target
from .selection import field_selector, label_selector
from .store import Event

Matcher = Callable[[dict[str, Any]], bool]


def _in_scope(target: Target, event: Event) -> bool:
    if (event.group, event.plural) != (codec.storage_group(target.rt), target.rt.plural):
        return False
    meta = event.obj["metadata"]
    if target.rt.namespaced and target.namespace and meta.get("namespace") != target.namespace:
        return False
    return not (target.name and meta["name"] != target.name)


def _translate(event: Event, matches: Matcher) -> dict[str, Any] | None:
    """A change seen through a selector: entering it is ADDED, leaving it is DELETED."""
    now_matches = matches(event.obj)
    if event.type != "MODIFIED":
        kind: str | None = event.type if now_matches else None
    else:
        was_matching = event.old is not None and matches(event.old)
        kind = "MODIFIED" if now_matches and was_matching else "ADDED" if now_matches else \
            "DELETED" if was_matching else None
    return None if kind is None else {"type": kind, "object": event.obj, "body": event.body}


def _expired(rv: int, current: int) -> dict[str, Any]:
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": f"too old resource version: {rv} ({current})", "reason": "Expired", "code": 410}
    return {"type": "ERROR", "object": status}


class WatchStream:
    """One watch request from start to end of stream."""

    def __init__(self, handlers: Handlers, request: web.Request, target: Target, bookmark_interval: float) -> None:
        self.handlers = handlers
        self.request = request
        self.target = target
        self.bookmark_interval = bookmark_interval
        labels = label_selector(request.query.get("labelSelector"))
        fields = field_selector(request.query.get("fieldSelector"), target.rt.selectable_fields)
        self.matches: Matcher = lambda obj: labels(obj) and fields(obj)
        self.table = tables.wants_table(request)
        self.columns_sent = False
        self.since = 0  # only events after this resourceVersion (one not reached yet waits for it)

    def _initial(self) -> list[dict[str, Any]] | None:
        """Events to send first; None if the requested resourceVersion is too old (410)."""
        store = self.handlers.store
        rv_param = self.request.query.get("resourceVersion", "")
        if self.request.query.get("sendInitialEvents", "").lower() in ("1", "t", "true"):
            # A watch-list (client-go 1.35's informers and `kubectl delete --wait`): the current state as
            # ADDED events, then a bookmark marking its end, then changes.
            snapshot = self._snapshot()
            end = self._bookmark()
            end["object"]["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
            return [*snapshot, end]
        if rv_param in ("", "0"):
            return self._snapshot()
        rv = int(rv_param) if rv_param.isdigit() else -1
        if rv < 0 or not store.can_resume(rv):
            return None
        self.since = rv
        events = [_translate(e, self.matches) for e in store.events_after(rv) if _in_scope(self.target, e)]
        return [e for e in events if e is not None]

    def _snapshot(self) -> list[dict[str, Any]]:
        """The current objects as ADDED events: the stored ones (read-only) with their stored JSON."""
        store, target = self.handlers.store, self.target
        return [{"type": "ADDED", "object": o,
                 "body": store.stored_json(target.key(o["metadata"]["name"], o["metadata"].get("namespace")), o)}
                for o in self.handlers.matching(self.request, target, copies=False)]

    def _encode(self, event: dict[str, Any]) -> bytes:
        body = event.pop("body", None)
        if (body is not None and not self.table and event["object"].get("apiVersion") == self.target.rt.api_version
                and not codec.is_events_v1(self.target.rt)):
            return f'{{"type":"{event["type"]}","object":{body}}}\n'.encode()  # as json.dumps would write it
        if self.table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            meta = {"resourceVersion": event["object"]["metadata"]["resourceVersion"]}
            table = tables.render(self.target.rt, [event["object"]], self.request, meta, not self.columns_sent)
            self.columns_sent = True
            event = {"type": event["type"], "object": table}
        elif event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            event = {"type": event["type"], "object": codec.view(event["object"], self.target.rt)}
        return json.dumps(event, separators=(",", ":")).encode() + b"\n"

    def _bookmark(self) -> dict[str, Any]:
        self.handlers.store.flush()  # never show a resourceVersion that is not committed
        rv = str(self.handlers.store.resource_version)
        return {"type": "BOOKMARK", "object": {"kind": self.target.rt.kind, "apiVersion": self.target.rt.api_version,
                                               "metadata": {"resourceVersion": rv}}}

    async def serve(self) -> web.StreamResponse:
        store = self.handlers.store
        store.flush()  # commit what is staged: the snapshot shows only committed state, and no event twice
        queue = store.subscribe()  # subscribe and snapshot in the same tick: nothing is lost
        try:
            initial = self._initial()
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(self.request)
            if initial is None:
                rv = self.request.query.get("resourceVersion", "")
                expired = _expired(int(rv) if rv.isdigit() else 0, store.resource_version)
                await response.write(json.dumps(expired, separators=(",", ":")).encode() + b"\n")
                return response
            try:
                for event in initial:
                    await response.write(self._encode(event))
                await self._follow(queue, response)
            except ConnectionResetError:
                pass  # the watcher went away (as clients do when they stop): nothing left to send
            return response
        finally:
            store.unsubscribe(queue)

    async def _follow(self, queue: asyncio.Queue[Event], response: web.StreamResponse) -> None:
        timeout = self.request.query.get("timeoutSeconds")
        deadline = time.monotonic() + float(timeout) if timeout else None
        bookmarks = self.request.query.get("allowWatchBookmarks") in ("true", "1")
        while deadline is None or time.monotonic() < deadline:
            wait = self.bookmark_interval if deadline is None else min(self.bookmark_interval, deadline - time.monotonic())
            try:
                event = await wait_for(queue.get(), timeout=max(wait, 0))
            except asyncio.TimeoutError:
                if self.request.transport is None or self.request.transport.is_closing():
                    return  # the client went away
                if bookmarks:
                    await response.write(self._encode(self._bookmark()))
                continue
            if event is None:
                return  # server shutdown
            if event.rv <= self.since or not _in_scope(self.target, event):
                continue
            translated = _translate(event, self.matches)
            if translated is not None:
                await response.write(self._encode(translated))
