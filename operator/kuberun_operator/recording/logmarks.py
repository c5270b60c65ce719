"""The metric series of an attempt whose only route back is its log (Lepton, SkyPilot), taken from the log copy.

On those backends the runner prints, when the task ends, up to ``MAX_LOG_POINTS`` points of its
series as marked lines and then its summary (``kuberun.resource.summary``, "the log route"). The
log is copied into the store when the attempt ends anyway (``attempt_end.py``), so the copy's
stream is scanned on its way through: the marked points become ``<attempt prefix>/metrics.jsonl``
— where the record server and the archive read every backend's series. Scanning keeps at most the
marked lines (each ≤ ``MAX_LOG_METRIC_LINE``) and one partial line in memory; a line longer than a
mark can be is skipped, not buffered. Lepton serves replica 0's log first, so collection stops at
the first summary mark (another replica's repeat of the same series is not taken twice).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from kuberun.resource import results

LOG_ROUTE_BACKENDS = frozenset({"lepton", "skypilot"})
_LONGEST = results.MAX_LOG_METRIC_LINE + 512  # a mark plus a service's line prefix


class MetricMarks:
    """Collects a log's metric marks as its chunks pass (``scan``); ``series()`` is the metrics.jsonl text."""

    def __init__(self, limit: int = results.MAX_LOG_POINTS) -> None:
        self.limit = limit
        self.points: list[str] = []
        self._partial = b""
        self._skipping = False  # inside a line too long to be a mark
        self._done = False      # past the first summary mark

    async def scan(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self._feed(chunk)
            yield chunk
        if self._partial and not self._skipping:
            self._line(self._partial)
        self._partial = b""

    def _feed(self, chunk: bytes) -> None:
        if self._done:
            return
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if self._skipping:
                self._skipping = False  # the long line ends here
                continue
            self._line(line)
        if len(self._partial) > _LONGEST:
            self._partial, self._skipping = b"", True

    def _line(self, raw: bytes) -> None:
        if self._done or len(raw) > _LONGEST:
            return
        text = raw.decode("utf-8", "replace")
        if results.LOG_SUMMARY_MARK in text:
            self._done = True
            return
        point = results.metric_in_log(text)
        if point is not None and len(self.points) < self.limit:
            self.points.append(point)

    def series(self) -> bytes:
        return "".join(p + "\n" for p in self.points).encode()
