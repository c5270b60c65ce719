"""What an ended attempt produced, folded into its record: return value and final metrics.

Pure, like the rest of ``policy``: the backends read the run summary (a termination message, a
``summary.json``) into ``Observed.summary`` with ``kuberun.resource.results.parse_summary``, which has
bounded every field already; this only copies it onto the attempt. An attempt that left no summary
(a script that never ran the runner, a pod killed before writing one, an older runner) simply records
none — nothing about the task's outcome depends on it.
"""

from __future__ import annotations

from kuberun.resource import AttemptStatus, ExperimentStatus
from kuberun.resource.results import RunSummary

# Metric values kept in one Experiment's status, all attempts together (~45 bytes each: ~92 KB). Past it
# the oldest attempts' values leave status first — the series of each is in the log store/archive —
# so 64 tasks x 11 attempts x 256 metrics cannot grow the object past etcd's limit.
STATUS_METRICS_BUDGET = 2048


def record_summary(attempt: AttemptStatus, summary: RunSummary | None, status: ExperimentStatus | None = None) -> None:
    if summary is None:
        return
    attempt.result = summary.result
    attempt.result_note = summary.result_note
    attempt.metrics = dict(summary.metrics)
    attempt.metrics_note = summary.metrics_note
    attempt.restarts = summary.restarts
    if status is not None:
        trim_metrics(status, keep=attempt)


def trim_metrics(status: ExperimentStatus, keep: AttemptStatus | None = None, budget: int = STATUS_METRICS_BUDGET) -> int:
    """Drop the metric values of the oldest finished attempts until the status holds at most ``budget``;
    ``keep`` (the attempt just recorded) is never trimmed. Returns how many values were dropped."""
    with_metrics = [a for t in status.tasks for a in t.attempts if a.metrics and a is not keep]
    total = sum(len(a.metrics) for a in with_metrics) + (len(keep.metrics) if keep is not None else 0)
    dropped = 0
    for attempt in sorted(with_metrics, key=lambda a: (a.finish_time is None, a.finish_time or 0, a.attempt)):
        if total <= budget:
            break
        count = len(attempt.metrics)
        attempt.metrics = {}
        attempt.metrics_note = (f"{count} final metric value(s) left status (the experiment's budget is {budget}); "
                                "the series is in the log store")
        total -= count
        dropped += count
    return dropped
