"""Results and metrics: the run summary's bounds, ``kr.log_metrics`` and what the runner leaves behind.

The runner tests run ``python -m kuberun.runner`` as a subprocess with the environment a backend
gives it (``KUBERUN_SUMMARY_FILE`` …), and read back only what the operator would read.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kuberun as kr
from kuberun import metrics
from kuberun.errors import KuberunError
from kuberun.resource import results
from kuberun.runner import task_document
from tests.fixtures import tasks

ROOT = Path(__file__).resolve().parents[3]


def _doc(task) -> dict:
    exp = kr.Experiment("r")
    exp.add(task, name="t", executor=kr.LocalExecutor())
    resource, _ = exp.build()
    return task_document(resource.spec.tasks[0])


def _run(doc: dict, tmp_path: Path, limit: int | None = None, **extra: str) -> tuple[subprocess.CompletedProcess[str], results.RunSummary | None]:
    (tmp_path / "task.json").write_text(json.dumps(doc))
    env = {**os.environ, results.SUMMARY_ENV: str(tmp_path / "summary.json"),
           results.METRICS_ENV: str(tmp_path / "metrics.jsonl"), **extra}
    if limit is not None:
        env[results.SUMMARY_LIMIT_ENV] = str(limit)
    done = subprocess.run([sys.executable, "-m", "kuberun.runner", "--config", str(tmp_path / "task.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    text = (tmp_path / "summary.json").read_text() if (tmp_path / "summary.json").exists() else None
    return done, results.parse_summary(text)


# -- the runner ---------------------------------------------------------------------------------


def test_a_returned_value_and_logged_metrics_reach_the_summary(tmp_path):
    done, summary = _run(_doc(kr.Partial(tasks.report, steps=3, result={"best": 0.5, "tags": ["a"]})), tmp_path)
    assert done.returncode == 0, done.stderr
    assert summary is not None and json.loads(summary.result) == {"best": 0.5, "tags": ["a"]}
    assert summary.metrics["loss"].value == pytest.approx(1 / 3) and summary.metrics["loss"].step == 2
    assert summary.metrics["acc"].value == pytest.approx(0.2)
    assert summary.metrics["diverged"].special == "NaN" and math.isnan(summary.metrics["diverged"].number)
    series = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [p["value"] for p in series if p["name"] == "loss"] == pytest.approx([1.0, 0.5, 1 / 3])  # the full series


def test_under_torchrun_only_rank_zero_writes_the_summary(tmp_path):
    done, summary = _run(_doc(kr.Partial(tasks.report, steps=1, result=1)), tmp_path, RANK="1")
    assert done.returncode == 0, done.stderr
    assert summary is None and (tmp_path / "metrics.jsonl").exists()  # its points still join the series
    done, summary = _run(_doc(kr.Partial(tasks.report, steps=1, result=1)), tmp_path, RANK="0")
    assert summary is not None and summary.result == "1"


def test_a_failed_task_still_leaves_its_metrics(tmp_path):
    done, summary = _run(_doc(kr.Partial(tasks.report, steps=2, fail=True)), tmp_path)
    assert done.returncode == 1
    assert summary is not None and summary.result is None and summary.metrics["loss"].value == pytest.approx(0.5)


def test_a_value_that_is_not_json_gets_a_note_not_a_failure(tmp_path):
    done, summary = _run(_doc(kr.Config(tasks.Model, width=3)), tmp_path)
    assert done.returncode == 0, done.stderr
    assert summary is not None and summary.result is None
    assert "not JSON-serialisable" in summary.result_note and "Model" in summary.result_note


def test_a_value_over_4_kib_gets_a_note(tmp_path):
    done, summary = _run(_doc(kr.Partial(tasks.report, steps=1, result="x" * 5000)), tmp_path)
    assert done.returncode == 0, done.stderr
    assert summary.result is None and "over the 4096-byte limit" in summary.result_note
    assert "loss" in summary.metrics


def test_a_script_reports_metrics_by_appending_lines_to_the_metrics_file(tmp_path):
    line = '{"name": "loss", "step": 7, "value": 0.25}'
    doc = {"name": "s", "script": {"inline": f"echo '{line}' >> \"$KUBERUN_METRICS_FILE\"", "entrypoint": "bash"}}
    done, summary = _run(doc, tmp_path)
    assert done.returncode == 0, done.stderr
    assert summary is not None and summary.result is None and summary.result_note is None
    assert summary.metrics["loss"].value == 0.25 and summary.metrics["loss"].step == 7


def test_under_the_termination_message_limit_the_summary_fits_4096_bytes(tmp_path):
    done, _ = _run(_doc(kr.Partial(tasks.report, steps=2, result="y" * 4000)), tmp_path, limit=4096)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "summary.json").read_bytes()) <= 4096


# -- the summary's bounds (pure) ----------------------------------------------------------------


def test_many_metrics_are_cut_to_the_limit_with_a_note_and_never_past_the_byte_budget():
    finals = {f"metric_{i:04d}_with_a_long_name": (i, i / 7) for i in range(1000)}
    text = results.build_summary({"r": 1}, finals, limit=results.TERMINATION_MESSAGE_BYTES)
    assert len(text.encode()) <= results.TERMINATION_MESSAGE_BYTES
    parsed = results.parse_summary(text)
    assert parsed.result == '{"r":1}' and 0 < len(parsed.metrics) < 256
    assert "left out" in parsed.metrics_note
    roomy = results.parse_summary(results.build_summary(None, finals, limit=results.FILE_SUMMARY_BYTES * 4))
    assert len(roomy.metrics) == results.MAX_METRICS and "past the limit of 256" in roomy.metrics_note


def test_a_result_that_crowds_out_the_budget_becomes_a_note():
    text = results.build_summary("z" * 4000, {"loss": (1, 0.5)}, limit=1024)
    parsed = results.parse_summary(text)
    assert len(text.encode()) <= 1024 and parsed.result is None and "does not fit" in parsed.result_note


@pytest.mark.parametrize("text", [None, "", "plain words from a crashed container", '{"format": "other"}', b"\xff\xfe"])
def test_what_is_not_a_summary_parses_to_none(text):
    assert results.parse_summary(text) is None


def test_a_hostile_summary_is_bounded_again_by_the_reader():
    doc = {"format": results.SUMMARY_FORMAT, "result": "not json {", "resultNote": "n" * 10_000,
           "metrics": {**{f"m{i}": [i, 1.0] for i in range(400)}, "bad name!": [1, 2.0], "x": [True, 1.0],
                       "y": [1, "huge"], "z": "scalar"}}
    parsed = results.parse_summary(json.dumps(doc))
    assert parsed.result is None and parsed.result_note == "the recorded return value was not valid JSON"
    assert len(parsed.metrics) == results.MAX_METRICS and "malformed" in parsed.metrics_note
    cut = results.parse_summary(results.SUMMARY_FORMAT.join(['{"format":"', '","metrics":{"a":[1,']))
    assert cut is not None and "not valid JSON" in cut.result_note  # a message cut short says so


# -- kr.log_metrics -----------------------------------------------------------------------------


@pytest.fixture
def series(tmp_path, monkeypatch):
    metrics._reset_for_tests()
    monkeypatch.setenv(results.METRICS_ENV, str(tmp_path / "m.jsonl"))
    yield tmp_path / "m.jsonl"
    metrics._reset_for_tests()


def test_log_metrics_appends_the_series_and_the_last_value_wins(series):
    kr.log_metrics({"loss": 0.5}, step=1)
    kr.log_metrics({"loss": 0.25, "lr": 1e-3}, step=2)
    assert [json.loads(x)["value"] for x in series.read_text().splitlines()] == [0.5, 0.25, 1e-3]
    finals, dropped = metrics.final_values(series)
    assert finals == {"loss": (2, 0.25), "lr": (2, 1e-3)} and dropped == 0


@pytest.mark.parametrize(("values", "step", "says"), [
    ({"bad name": 1.0}, None, "must match"), ({"": 1.0}, None, "must match"), ({"loss": "high"}, None, "must be a number"),
    ({"loss": 1.0}, 1.5, "step must be an integer"), ([("loss", 1.0)], None, "must be a mapping")])
def test_log_metrics_refuses_bad_input_clearly(series, values, step, says):
    with pytest.raises(KuberunError, match=says):
        kr.log_metrics(values, step=step)
    assert not series.exists()


def test_past_256_names_further_names_are_counted_not_kept(series):
    for i in range(300):
        kr.log_metrics({f"m{i}": float(i)})
    finals, dropped = metrics.final_values(series)
    assert len(finals) == results.MAX_METRICS and dropped == 300 - results.MAX_METRICS


def test_without_the_variable_values_stay_in_memory(monkeypatch):
    metrics._reset_for_tests()
    monkeypatch.delenv(results.METRICS_ENV, raising=False)
    kr.log_metrics({"acc": 0.9}, step=3)
    assert metrics.final_values(None) == ({"acc": (3, 0.9)}, 0)
    metrics._reset_for_tests()
