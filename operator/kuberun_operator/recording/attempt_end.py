"""What happens when an attempt ends: the one place to add work for that moment.

``on_attempt_ended`` copies the attempt's log into the log store and records where it went (in the
archive's locations, and — through the returned ``ArchivedLog`` — in the attempt's status); for
Lepton and SkyPilot it also stores the metric series the runner marked in the log. The attempt's
``archivedLog`` is the marker that both happened: without it, a new operator copies again. Further
steps for the same moment (e.g. syncing the attempt's artifacts) belong here, as further calls in
this function, so every backend gets them at once. It runs as a retried background job (see
``recorder.py``): it must be idempotent — the log store's writes are (same key, same bytes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kuberun.resource import ArchivedLog, AttemptStatus, ExperimentResource, results
from kuberun_operator.backends.base import Backend
from kuberun_operator.kube import Kube
from kuberun_operator.logstore import LogStore, paths
from kuberun_operator.recording.logmarks import LOG_ROUTE_BACKENDS, MetricMarks
from kuberun_operator.recording.sources import attempt_log


@dataclass(frozen=True)
class AttemptEnded:
    """An attempt that reached a final phase, and where its experiment lives."""

    namespace: str
    name: str
    uid: str
    task: str
    attempt: AttemptStatus
    experiment: ExperimentResource | None = None  # its metadata and spec: a bridge finds the log from them

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.uid, self.task, self.attempt.attempt)


async def on_attempt_ended(ended: AttemptEnded, *, kube: Kube, backends: Mapping[str, Backend],
                           store: LogStore) -> ArchivedLog:
    """Copy the attempt's log (streamed, bounded in memory) and say where it is; on the backends whose
    only route back is the log, also the metric series marked in it (``logmarks.py``)."""
    key = paths.log_key(ended.namespace, ended.name, ended.uid, ended.task, ended.attempt.attempt)
    chunks = attempt_log(kube, backends, ended.namespace, ended.attempt, ended.experiment, ended.task)
    ref = ended.attempt.backend_ref
    marks = MetricMarks() if ref is not None and ref.backend in LOG_ROUTE_BACKENDS else None
    location = await store.put_log(key, marks.scan(chunks) if marks is not None else chunks)
    if marks is not None and marks.points:
        prefix = paths.attempt_prefix(ended.namespace, ended.name, ended.uid, ended.task, ended.attempt.attempt)
        await store.put_bytes(paths.join(prefix, results.METRICS_FILE), marks.series())
    return ArchivedLog(url=location.url, size=location.size, sha256=location.sha256, truncated=location.truncated)


def location_row(archived: ArchivedLog) -> dict[str, Any]:
    """The archive's ``locations`` row for an archived log."""
    return {"kind": "log", "url": archived.url, "size": archived.size, "sha256": archived.sha256}
