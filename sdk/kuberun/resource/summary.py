"""The run summary's wire format, runner side: stdlib only, so it ships in the runner bundle.

The runner (``kuberun.runner``) builds the summary with :func:`build_summary` when a task ends; the
operator parses it with ``kuberun.resource.results.parse_summary``. See ``results.py`` for the bounds
and why they exist. Nothing here imports pydantic: a node without kuberun installed runs this file
from the bundle (``kuberun_operator.backends.runner_bundle``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

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
                  *, limit: int = FILE_SUMMARY_BYTES, dropped_metrics: int = 0, has_result: bool = True,
                  restarts: int | None = None, error: str | None = None) -> str:
    """The summary document, at most ``limit`` bytes: the result first, then as many metrics as fit.

    ``restarts``: how often the task was restarted inside this attempt (FaultTolerance), when it may be.
    ``error``: why the runner could not run the task (its exit 2: an unusable document, a code package it
    could not fetch or refused), at most ``MAX_NOTE`` characters, so the attempt's record can say why.
    """
    doc: dict[str, Any] = {"format": SUMMARY_FORMAT}
    if error:
        doc["error"] = error[:MAX_NOTE]
    if restarts is not None:
        doc["restarts"] = restarts
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

    if dropped:
        doc["metricsNote"] = f"{dropped} metric name(s) past the limit of {MAX_METRICS} were not recorded"
    out = encoded()

    def drop_result() -> str:
        size = len(doc.pop("result").encode())
        doc["resultNote"] = f"return value ({size} bytes of JSON) does not fit the {limit}-byte summary; its repr is in the log"
        return encoded()

    # A result that takes more than half the budget goes first; otherwise metrics make room for it.
    if len(out.encode()) > limit and "result" in doc and len(doc["result"].encode()) > limit // 2:
        out = drop_result()
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
    if len(out.encode()) > limit and "result" in doc:
        out = drop_result()
    return out


# -- the log route: for backends whose only way back is the task's log (Lepton, SkyPilot) -------------
#
# The bridge sets LOG_MARKS_ENV; the runner then also prints, when the task ends, up to
# MAX_LOG_POINTS of the series (evenly spaced over it, so the whole curve survives) and, last, the
# summary, each as one marked line. The bridge reads the summary from the log's tail when it sees
# the attempt end; the operator's log copy extracts the points. Services prefix log lines (SkyPilot:
# "(task, pid=12) "), so a mark is found anywhere in its line. What a task prints is the task's own
# report, so a forged mark changes only that attempt's record — as writing the files would.

LOG_MARKS_ENV = "KUBERUN_REPORT_IN_LOG"
LOG_SUMMARY_MARK = "kuberun.dev/summary "
LOG_METRIC_MARK = "kuberun.dev/metric "
LOG_SUMMARY_BYTES = 16 * 1024      # the summary line in a log: well under what log services keep per line
MAX_LOG_POINTS = 2000              # metric lines printed (~100 bytes each)
MAX_LOG_METRIC_LINE = 1024         # a longer metric line is not one the runner printed


def log_marks(summary_text: str, points: list[str]) -> list[str]:
    """The marked lines to print: at most MAX_LOG_POINTS of ``points`` (JSON lines), evenly spaced with the
    last one kept, then the summary."""
    stride = max(1, -(-len(points) // MAX_LOG_POINTS))
    kept = points[::stride]
    if points and kept[-1] is not points[-1]:
        kept[-1:] = [points[-1]] if len(kept) >= MAX_LOG_POINTS else [kept[-1], points[-1]]
    return [LOG_METRIC_MARK + p for p in kept if len(p) <= MAX_LOG_METRIC_LINE] + [LOG_SUMMARY_MARK + summary_text]


def _marked(line: str, mark: str) -> str | None:
    at = line.find(mark)
    return None if at < 0 else line[at + len(mark):].strip()


def summary_in_log(lines: list[str]) -> str | None:
    """The summary text of the last summary mark in ``lines`` (a log's tail), or None."""
    for line in reversed(lines):
        found = _marked(line, LOG_SUMMARY_MARK)
        if found is not None:
            return found[:FILE_SUMMARY_BYTES]
    return None


def metric_in_log(line: str) -> str | None:
    """The JSON text of a metric mark in one log line, or None."""
    found = _marked(line, LOG_METRIC_MARK)
    return found if found is not None and len(found) <= MAX_LOG_METRIC_LINE else None
