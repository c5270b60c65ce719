"""What an attempt produced — its return value, its metrics, its artifacts — as the record keeps it.

Two halves of one contract live here because both sides need them and the operator may import only
``kuberun.resource``: the status models (``MetricValue``, ``ArtifactFile``, ``ArtifactsRecord``) and
the *run summary*, the compact JSON document the runner leaves when a task ends and the operator
reads back (a pod's termination message on Kubernetes; ``summary.json`` in the attempt's directory
on Slurm and local). The summary is written by code inside the task's environment, so the operator
trusts none of it: :func:`parse_summary` bounds every field again and never raises.

Bounds (the status is shared by every task of an experiment and must stay far below etcd's limit):
a return value is recorded when it is JSON and at most ``MAX_RESULT_BYTES`` of it; at most
``MAX_METRICS`` final metric values per attempt (as Kubeflow Trainer does); at most
``MAX_ARTIFACTS_LISTED`` artifact files listed in status — the full lists and the whole metric series
go to the log store and the archive. Anything left out is said so in a note, never an error: a task
that returned something large still Succeeded.

Non-finite values (a diverged loss) have no JSON spelling, so the summary writes them as the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"`` and the status as ``value: null`` with ``special`` set.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from kuberun.resource.base import KubeModel
from kuberun.resource.constants import MAX_RESTARTS
from kuberun.resource.summary import (  # noqa: F401 - the contract's constants, re-exported
    FILE_SUMMARY_BYTES,
    LOG_MARKS_ENV,
    LOG_METRIC_MARK,
    LOG_SUMMARY_BYTES,
    LOG_SUMMARY_MARK,
    MAX_ARTIFACTS_LISTED,
    MAX_LOG_METRIC_LINE,
    MAX_LOG_POINTS,
    MAX_METRIC_NAME,
    MAX_METRICS,
    MAX_NOTE,
    MAX_RESULT_BYTES,
    METRIC_NAME,
    METRICS_ENV,
    METRICS_FILE,
    SUMMARY_ENV,
    SUMMARY_FILE,
    SUMMARY_FORMAT,
    SUMMARY_LIMIT_ENV,
    TERMINATION_LOG,
    TERMINATION_MESSAGE_BYTES,
    build_summary,
    log_marks,
    metric_in_log,
    result_json,
    summary_in_log,
)

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class MetricValue(KubeModel):
    """The last value a task reported for one metric."""

    value: float | None = Field(None, description="The value; null when it is not finite (see special).")
    special: Literal["NaN", "Infinity", "-Infinity"] | None = None
    step: int | None = None

    @property
    def number(self) -> float:
        return _SPECIAL[self.special] if self.special else (self.value if self.value is not None else math.nan)


class ArtifactFile(KubeModel):
    path: str = Field(..., max_length=1024)
    size: int = Field(..., ge=0)
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")


class ArtifactsRecord(KubeModel):
    """An attempt's synced artifacts: where they are, how many, and the first few (the store has all)."""

    location: str = Field(..., max_length=4096, description="Store URL of the attempt's artifacts prefix.")
    count: int = Field(0, ge=0)
    total_bytes: int = Field(0, ge=0)
    files: list[ArtifactFile] = Field(default_factory=list, max_length=MAX_ARTIFACTS_LISTED)
    skipped: int = Field(0, ge=0, description="Files not synced (over the bounds, unsafe names, symlinks).")
    synced_time: datetime | None = None
    complete: bool = Field(False, description="Synced after the attempt ended; false: a periodic sync, maybe partial.")


class SeriesRecord(KubeModel):
    """The attempt's metric series (``metrics.jsonl``) as the operator copied it to the log store once
    the attempt ended. Its presence is the marker that the copy happened: an operator that restarts
    copies the series of every ended attempt without one."""

    location: str | None = Field(None, max_length=4096, description="Store URL of the copy; null: no points reported.")
    size: int = Field(0, ge=0)
    truncated: bool = Field(False, description="The series was longer than the operator's bound; the rest was dropped.")


@dataclass
class RunSummary:
    """A parsed run summary: what goes into the attempt's record."""

    result: str | None = None              # compact JSON text of the return value
    result_note: str | None = None
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    metrics_note: str | None = None
    restarts: int | None = None            # in-job restarts of the attempt (FaultTolerance)


# -- the operator's side ------------------------------------------------------------------------


def looks_like_summary(text: str | None) -> bool:
    return bool(text) and SUMMARY_FORMAT in text[:64]  # type: ignore[index]


def parse_summary(text: str | bytes | None) -> RunSummary | None:
    """The summary in ``text``, bounded again; None when it is not one. Never raises."""
    if isinstance(text, bytes):
        text = text[:FILE_SUMMARY_BYTES].decode("utf-8", "replace")
    if not text or not looks_like_summary(text):
        return None
    try:
        doc = json.loads(text[:FILE_SUMMARY_BYTES])
    except ValueError:
        return RunSummary(result_note="the task's run summary was not valid JSON (cut short?)")
    if not isinstance(doc, dict) or doc.get("format") != SUMMARY_FORMAT:
        return None
    out = RunSummary()
    result = doc.get("result")
    if isinstance(result, str) and len(result.encode()) <= MAX_RESULT_BYTES:
        try:
            json.loads(result)
            out.result = result
        except ValueError:
            out.result_note = "the recorded return value was not valid JSON"
    elif result is not None:
        out.result_note = "the recorded return value was over the limit or not text"
    out.result_note = out.result_note or _note(doc.get("resultNote"))
    out.metrics, bad = _metrics(doc.get("metrics"))
    notes = [n for n in (_note(doc.get("metricsNote")), f"{bad} malformed metric(s) ignored" if bad else None) if n]
    out.metrics_note = "; ".join(notes)[:MAX_NOTE] or None
    restarts = doc.get("restarts")
    if isinstance(restarts, int) and not isinstance(restarts, bool) and 0 <= restarts <= MAX_RESTARTS:
        out.restarts = restarts
    return out


def summary_error(text: str | None) -> str | None:
    """The runner's ``error`` in a summary (why it could not run the task), bounded; None when there is none."""
    if not text or not looks_like_summary(text):
        return None
    try:
        doc = json.loads(text[:FILE_SUMMARY_BYTES])
    except ValueError:
        return None
    return _note(doc.get("error")) if isinstance(doc, dict) else None


def _note(value: Any) -> str | None:
    return value[:MAX_NOTE] if isinstance(value, str) and value else None


def _metrics(raw: Any) -> tuple[dict[str, MetricValue], int]:
    if not isinstance(raw, dict):
        return {}, 0
    out: dict[str, MetricValue] = {}
    bad = 0
    for name, item in raw.items():
        if len(out) >= MAX_METRICS:
            bad += 1
            continue
        value = metric_value(item)
        if not isinstance(name, str) or not METRIC_NAME.match(name) or value is None:
            bad += 1
            continue
        out[name] = value
    return out, bad


def metric_value(item: Any) -> MetricValue | None:
    """A ``[step, value]`` pair of the summary as a MetricValue, or None when malformed."""
    if not isinstance(item, list) or len(item) != 2:
        return None
    step, value = item
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or not -(2**63) <= step < 2**63):
        return None
    if isinstance(value, str) and value in _SPECIAL:
        return MetricValue(special=value, step=step)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return MetricValue(value=float(value), step=step)
