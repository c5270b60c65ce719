"""In-job restarts (``kuberun.restarts``): the runner restarts a failed single-process task, as torchrun would.

Real ``python -m kuberun.runner`` subprocesses, as a Job's container or an sbatch job runs them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kuberun as kr
from kuberun.resource import results
from kuberun.runner import task_document
from tests.fixtures import tasks

ROOT = Path(__file__).resolve().parents[3]


def _doc(task, restarts: int) -> dict:
    exp = kr.Experiment("r")
    exp.add(task, name="t", executor=kr.KubernetesExecutor(launcher=kr.FaultTolerance(max_restarts=restarts)))
    resource, _ = exp.build()
    return task_document(resource.spec.tasks[0])


def _start(doc: dict, tmp_path: Path) -> subprocess.Popen[str]:
    (tmp_path / "task.json").write_text(json.dumps(doc))
    env = {**os.environ, results.SUMMARY_ENV: str(tmp_path / "summary.json")}
    env.pop("KUBERUN_RESTART_COUNT", None)
    env.pop("TORCHELASTIC_RESTART_COUNT", None)
    return subprocess.Popen([sys.executable, "-m", "kuberun.runner", "--config", str(tmp_path / "task.json")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _run(doc: dict, tmp_path: Path) -> tuple[int, str, str, results.RunSummary | None]:
    process = _start(doc, tmp_path)
    out, err = process.communicate(timeout=60)
    text = (tmp_path / "summary.json").read_text() if (tmp_path / "summary.json").exists() else None
    return process.returncode, out, err, results.parse_summary(text)


def test_the_task_document_says_how_often_only_when_the_runner_restarts():
    assert _doc(kr.Partial(tasks.add, a=1), 2)["restarts"] == 2
    assert "restarts" not in _doc(kr.Partial(tasks.add, a=1), 0)
    exp = kr.Experiment("r")
    exp.add(kr.Partial(tasks.add, a=1), name="t",
            executor=kr.KubernetesExecutor(procs_per_node=2, launcher=kr.FaultTolerance(max_restarts=2)))
    assert "restarts" not in task_document(exp.build()[0].spec.tasks[0])  # torchrun restarts its own workers


def test_a_task_that_fails_once_succeeds_on_its_restart_and_the_summary_counts_one(tmp_path):
    code, out, err, summary = _run(_doc(kr.Partial(tasks.fail_until_restart, restarts=1), restarts=2), tmp_path)
    assert code == 0, err
    assert out.splitlines() == ["generation 0", "generation 1"]
    assert "the task exited 3; in-job restart 1 of 2" in err
    assert summary is not None and summary.restarts == 1 and json.loads(summary.result) == 1


def test_restarts_run_out_and_the_last_exit_code_is_the_attempt_s(tmp_path):
    code, out, err, summary = _run(_doc(kr.Partial(tasks.fail_until_restart, restarts=5, code=7), restarts=2), tmp_path)
    assert code == 7
    assert out.splitlines() == ["generation 0", "generation 1", "generation 2"]
    assert "failed after 2 in-job restart(s)" in err
    assert summary is not None and summary.restarts == 2


def test_a_script_task_is_restarted_too(tmp_path):
    marker = tmp_path / "ran-once"
    script = kr.Script(inline=f'if [ -e {marker} ]; then echo second; exit 0; fi; touch {marker}; echo first; exit 9')
    code, out, err, summary = _run(_doc(script, restarts=1), tmp_path)
    assert (code, out.split()) == (0, ["first", "second"]), err
    assert summary is not None and summary.restarts == 1


def test_a_stop_is_not_restarted(tmp_path):
    started = tmp_path / "started"
    cleaned = tmp_path / "cleaned"
    process = _start(_doc(kr.Partial(tasks.wait_then_clean_up, started=str(started), cleaned=str(cleaned)), restarts=3), tmp_path)
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the task never started"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert cleaned.exists() and "in-job restart" not in err  # the task cleaned up; no new generation started


def test_an_unusable_task_document_is_not_restarted(tmp_path):
    doc = _doc(kr.Partial(tasks.add, a=1), restarts=3)
    doc["fiddle"]["sha256"] = "0" * 64
    code, _, err, _ = _run(doc, tmp_path)
    assert code == 2 and err.count("digest") == 1 and "in-job restart" not in err
