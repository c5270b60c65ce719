"""What an ended attempt produced, folded into its record: return value and final metrics.

Pure, like the rest of ``policy``: the backends read the run summary (a termination message, a
``summary.json``) into ``Observed.summary`` with ``kuberun.resource.results.parse_summary``, which has
bounded every field already; this only copies it onto the attempt. An attempt that left no summary
(a script that never ran the runner, a pod killed before writing one, an older runner) simply records
none — nothing about the task's outcome depends on it.
"""

from __future__ import annotations

from kuberun.resource import AttemptStatus
from kuberun.resource.results import RunSummary


def record_summary(attempt: AttemptStatus, summary: RunSummary | None) -> None:
    if summary is None:
        return
    attempt.result = summary.result
    attempt.result_note = summary.result_note
    attempt.metrics = dict(summary.metrics)
    attempt.metrics_note = summary.metrics_note
