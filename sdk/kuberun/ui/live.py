"""Follow a running task's log in the browser: Server-Sent Events fed by the SDK's log reader.

The SDK reads logs synchronously (pods' ``log?follow=true``, local files, bridges), so each
follower is one daemon thread pumping lines into an asyncio queue that the event-stream handler
drains. The thread stops at the next line after the browser goes away or the server stops; the
number of followers is capped so a page left open in many tabs cannot exhaust the threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

from kuberun.aiowait import wait_for
from kuberun.ui import data, render, security

MAX_FOLLOWERS = 16
MAX_LINE = 16 * 1024
QUEUE_HIGH = 2000
KEEPALIVE = 15.0


@dataclass(eq=False)  # kept in a set by identity
class Follower:
    queue: asyncio.Queue[tuple[str, str]]
    stop: threading.Event = field(default_factory=threading.Event)


class Followers:
    """The open log streams, so the server can end them all when it stops."""

    def __init__(self) -> None:
        self.active: set[Follower] = set()

    def __len__(self) -> int:
        return len(self.active)


FOLLOWERS = web.AppKey("followers", Followers)


async def stop_followers(app: web.Application) -> None:
    for follower in list(app[FOLLOWERS].active):
        follower.stop.set()
        follower.queue.put_nowait(("end", "the dashboard is stopping"))


def _pump(record: data.Record, loop: asyncio.AbstractEventLoop, follower: Follower, namespace: str, name: str,
          task: str, attempt: int | None) -> None:
    def put(kind: str, text: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening any more
            loop.call_soon_threadsafe(follower.queue.put_nowait, (kind, text))

    try:
        for line in record.log_lines(namespace, name, task, attempt, follow=True):
            while follower.queue.qsize() > QUEUE_HIGH and not follower.stop.is_set():
                time.sleep(0.05)  # the browser reads slower than the log grows: hold the reader back
            if follower.stop.is_set():
                return
            put("line", line.replace("\r", "")[:MAX_LINE])
        put("end", "the attempt finished")
    except data.KuberunError as exc:
        put("error", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # a reader bug must end the stream with a message, not hang the page
        put("error", f"log stream failed: {type(exc).__name__}")


def event(kind: str, text: str) -> bytes:
    return f"event: {kind}\ndata: {text}\n\n".encode()


async def log_stream(request: web.Request) -> web.StreamResponse:
    namespace, name, task = request.match_info["namespace"], request.match_info["name"], request.match_info["task"]
    attempt_text = request.query.get("attempt", "")
    attempt = int(attempt_text) if attempt_text.isdigit() else None
    followers = request.app[FOLLOWERS]
    if len(followers) >= MAX_FOLLOWERS:
        return render.error(request, 503, f"{MAX_FOLLOWERS} logs are already being followed; close one and retry")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8", "X-Accel-Buffering": "no"})
    security.add_headers(response)
    await response.prepare(request)
    follower = Follower(asyncio.Queue())
    followers.active.add(follower)
    thread = threading.Thread(target=_pump, name=f"kuberun-ui-log-{name}-{task}", daemon=True,
                              args=(render.record(request), asyncio.get_running_loop(), follower, namespace, name, task, attempt))
    thread.start()
    try:
        while True:
            try:
                kind, text = await wait_for(follower.queue.get(), timeout=KEEPALIVE)
            except asyncio.TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            await response.write(event(kind, text))
            if kind != "line":
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        follower.stop.set()
        followers.active.discard(follower)
    return response
