"""Pod status writes that are retried until the API server takes them (level-triggered reporting).

Why: the kubelet used to write each status once and log a failure; a lost final write (a 500, the
API server down at that moment) left the pod Running and its experiment stuck for ever. Here each
pod has one *desired* status, the latest the kubelet decided; a single writer per pod sends it
with exponential backoff until it is accepted, and a newer status replaces an unsent older one
(only the latest is the truth, as with the real kubelet's status manager). A 404 ends the writer:
the pod is gone, there is nobody left to tell.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kuberun.aiowait import wait_for

from .rest import MERGE_PATCH, KubeError, Rest, path

log = logging.getLogger("kuberun_sandbox.node")

FIRST_DELAY = 0.05   # seconds before the first retry; doubled each failure
MAX_DELAY = 2.0      # the backoff's ceiling


class StatusReporter:
    """One background writer per pod with a status not yet accepted."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self._desired: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # uid -> (pod, status)
        self._writers: dict[str, asyncio.Task[None]] = {}
        self.failures = 0  # status writes that failed and were retried (for tests and logs)

    def report(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        """Make ``status`` the pod's desired status; it is written soon, and again until accepted."""
        uid = pod["metadata"]["uid"]
        self._desired[uid] = (pod, status)
        if uid not in self._writers:
            self._writers[uid] = asyncio.get_running_loop().create_task(self._write(uid), name=f"status-{uid}")

    def pending(self, uid: str) -> bool:
        return uid in self._desired

    async def flushed(self, uid: str, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the pod's desired status is written; True if it was."""
        writer = self._writers.get(uid)
        if writer is not None:
            try:
                await wait_for(asyncio.shield(writer), timeout)
            except asyncio.TimeoutError:
                return False
        return not self.pending(uid)

    def forget(self, uid: str) -> None:
        """The pod is gone: stop writing for it."""
        self._desired.pop(uid, None)
        writer = self._writers.pop(uid, None)
        if writer is not None:
            writer.cancel()

    async def stop(self) -> None:
        writers = list(self._writers.values())
        for writer in writers:
            writer.cancel()
        await asyncio.gather(*writers, return_exceptions=True)
        self._writers.clear()

    async def _write(self, uid: str) -> None:
        delay = FIRST_DELAY
        try:
            while uid in self._desired:
                pod, status = entry = self._desired[uid]
                meta = pod["metadata"]
                url = path("", "v1", "pods", meta["namespace"], meta["name"], "status")
                try:
                    await self.rest.request("PATCH", url, {"status": status}, content_type=MERGE_PATCH)
                except KubeError as e:
                    if e.code == 404:  # deleted meanwhile: nothing to report to
                        self._desired.pop(uid, None)
                        return
                    self._failed(meta, e, delay)
                except Exception as e:  # the API server unreachable, restarting, or answering garbage
                    self._failed(meta, e, delay)
                else:
                    if self._desired.get(uid) is entry:
                        del self._desired[uid]
                    delay = FIRST_DELAY
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
        finally:
            if self._writers.get(uid) is asyncio.current_task():
                del self._writers[uid]

    def _failed(self, meta: dict[str, Any], error: BaseException, delay: float) -> None:
        self.failures += 1
        level = logging.WARNING if delay >= MAX_DELAY else logging.DEBUG
        log.log(level, "status of pod %s/%s not written yet (%s); retrying", meta["namespace"], meta["name"], error)
