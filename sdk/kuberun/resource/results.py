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
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from kuberun.resource.base import KubeModel

SUMMARY_FORMAT = "kuberun.dev/summary/v1"
MAX_RESULT_BYTES = 4096
MAX_METRICS = 256
MAX_METRIC_NAME = 128
MAX_NOTE = 512
MAX_ARTIFACTS_LISTED = 32
TERMINATION_MESSAGE_BYTES = 4096   # the kubelet's limit for one container's termination message
FILE_SUMMARY_BYTES = 64 * 1024     # summary.json on Slurm/local: room for every bounded field
METRIC_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./:-]{0,127}$")
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

# Files of the contract, in the attempt's directory (local, Slurm) or beside the archived log:
SUMMARY_FILE = "summary.json"      # the run summary (this module's format)
METRICS_FILE = "metrics.jsonl"     # the full series: one {"name","step","value","time"} object a line
TERMINATION_LOG = "/dev/termination-log"  # Kubernetes' default terminationMessagePath
SUMMARY_ENV = "KUBERUN_SUMMARY_FILE"
SUMMARY_LIMIT_ENV = "KUBERUN_SUMMARY_LIMIT"
METRICS_ENV = "KUBERUN_METRICS_FILE"


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
    synced_time: str | None = Field(None, max_length=64)


@dataclass
class RunSummary:
    """A parsed run summary: what goes into the attempt's record."""

    result: str | None = None              # compact JSON text of the return value
    result_note: str | None = None
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    metrics_note: str | None = None


# -- the runner's side --------------------------------------------------------------------------


def result_json(value: Any) -> tuple[str | None, str | None]:
    """(compact JSON of ``value``, None) when it can be recorded, else (None, why not)."""
    if value is None:
        return None, None
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        return None, f"return value of type {type(value).__name__} is not JSON-serialisable ({str(exc)[:120]}); its repr is in the log"
    size = len(text.encode())
    if size > MAX_RESULT_BYTES:
        return None, f"return value is {size} bytes of JSON, over the {MAX_RESULT_BYTES}-byte limit; its repr is in the log"
    return text, None


def _wire(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def build_summary(result: Any = None, finals: dict[str, tuple[int | None, float]] | None = None,
                  *, limit: int = FILE_SUMMARY_BYTES, dropped_metrics: int = 0, has_result: bool = True) -> str:
    """The summary document, at most ``limit`` bytes: the result first, then as many metrics as fit."""
    doc: dict[str, Any] = {"format": SUMMARY_FORMAT}
    text, note = result_json(result) if has_result else (None, None)
    finals = finals or {}
    dropped = dropped_metrics + max(0, len(finals) - MAX_METRICS)
    finals = dict(list(finals.items())[:MAX_METRICS])
    metrics = {name: [step, _wire(value)] for name, (step, value) in finals.items()}
    if text is not None:
        doc["result"] = text
    if note:
        doc["resultNote"] = note
    doc["metrics"] = metrics

    def encoded() -> str:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    out = encoded()
    if len(out.encode()) > limit and "result" in doc:
        size = len(doc.pop("result").encode())
        doc["resultNote"] = f"return value ({size} bytes of JSON) does not fit the {limit}-byte summary; its repr is in the log"
        out = encoded()
    left_out = 0
    while len(out.encode()) > limit and metrics:
        # Left out from the front (the oldest-reported names); a note says how many and where the rest is.
        cut = max(1, len(metrics) // 8)
        for name in list(metrics)[:cut]:
            del metrics[name]
        left_out += cut
        doc["metricsNote"] = (f"{left_out + dropped} metric(s) left out of the {limit}-byte summary; "
                              "the full series is in metrics.jsonl")
        out = encoded()
    if dropped and not left_out:
        doc["metricsNote"] = f"{dropped} metric name(s) past the limit of {MAX_METRICS} were not recorded"
        out = encoded()
    return out


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
    return out


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
