"""The log route of the run summary (``kuberun.resource.summary``, for Lepton and SkyPilot): what the runner
prints when ``LOG_MARKS_ENV`` is set, bounded, and what the operator finds again in a (prefixed) log."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from kuberun.resource import results

ROOT = Path(__file__).resolve().parents[3]


def test_a_long_series_is_thinned_evenly_keeping_its_last_point_and_the_summary_comes_last():
    points = [json.dumps({"name": "loss", "step": i, "value": 1 / (i + 1)}) for i in range(10_001)]
    lines = results.log_marks('{"format":"kuberun.dev/summary/v1"}', points)
    marked = [json.loads(line.removeprefix(results.LOG_METRIC_MARK)) for line in lines[:-1]]
    assert len(marked) <= results.MAX_LOG_POINTS and marked[0]["step"] == 0 and marked[-1]["step"] == 10_000
    steps = [p["step"] for p in marked]
    assert steps == sorted(steps) and max(b - a for a, b in itertools.pairwise(steps)) <= 6  # even spacing
    assert lines[-1] == results.LOG_SUMMARY_MARK + '{"format":"kuberun.dev/summary/v1"}'
    assert results.log_marks("{}", []) == [results.LOG_SUMMARY_MARK + "{}"]


def test_marks_are_found_behind_a_service_prefix_and_the_last_summary_wins():
    log = ["(task, pid=7) step 1", "(task, pid=7) kuberun.dev/summary {\"old\": 1}",
           "(task, pid=7) kuberun.dev/metric {\"name\":\"loss\",\"step\":1,\"value\":0.5}",
           "(task, pid=7) kuberun.dev/summary {\"new\": 2}", "(task, pid=7) Job finished (status: SUCCEEDED)."]
    assert results.summary_in_log(log) == '{"new": 2}'
    assert results.metric_in_log(log[2]) == '{"name":"loss","step":1,"value":0.5}'
    assert results.summary_in_log(["nothing here"]) is None
    assert results.metric_in_log(results.LOG_METRIC_MARK + "x" * (results.MAX_LOG_METRIC_LINE + 1)) is None


def _run(tmp_path: Path, marks: bool) -> str:
    import kuberun as kr
    from kuberun.runner import encode_task_env, task_document
    from tests.fixtures import tasks

    exp = kr.Experiment("log-route", namespace="ns")
    exp.add(kr.Partial(tasks.report, steps=2, result={"ok": True}), name="t")
    resource, _ = exp.build()
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "KUBERUN_TASK_B64": encode_task_env(task_document(resource.spec.tasks[0])),
           "HOME": str(tmp_path)}
    if marks:
        env[results.LOG_MARKS_ENV] = "1"
    done = subprocess.run([sys.executable, "-m", "kuberun.runner", "--config-env", "KUBERUN_TASK_B64"], cwd=tmp_path,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=True)
    return done.stdout


def test_the_runner_prints_the_marks_only_when_the_bridge_asks_and_they_parse_back(tmp_path):
    assert results.LOG_SUMMARY_MARK not in _run(tmp_path, marks=False)  # Kubernetes, Slurm, local: logs unchanged
    out = _run(tmp_path, marks=True).splitlines()
    summary = results.parse_summary(results.summary_in_log(out))
    assert summary is not None and json.loads(summary.result or "") == {"ok": True}
    assert summary.metrics["loss"].value == 0.5 and summary.metrics["diverged"].special == "NaN"
    points = [json.loads(p) for line in out if (p := results.metric_in_log(line))]
    assert [(p["name"], p["step"]) for p in points] == [("loss", 0), ("acc", 0), ("loss", 1), ("acc", 1), ("diverged", None)]
