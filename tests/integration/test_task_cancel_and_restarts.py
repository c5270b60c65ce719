"""NeMo Run's per-task cancel and ``FaultTolerance`` on the sandbox (API server, node running pods, operator).

Per-task cancel goes through the user's path — ``kuberun cancel NAME --task T`` and ``exp.cancel("T")``
— to ``spec.cancelTasks``; the operator deletes that task's Job (its pod's process ends), records it
Cancelled naming who asked, skips its dependents and lets the other tasks run to the end. A task under
``kr.FaultTolerance`` that fails once is restarted inside its pod and ends Succeeded with one attempt.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest
from kubernetes import client, config

import kuberun as kr
from kuberun.api import connect
from kuberun_sandbox import Sandbox
from tests.fixtures import tasks
from tests.helpers.manage import cli
from tests.helpers.operator import get_experiment, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    # The pods' processes are this interpreter: they must import tests.fixtures.tasks as the test does.
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), before]))
    try:
        with Sandbox(data_dir=tmp_path_factory.mktemp("cancel-sandbox"), operator=True) as sb:
            assert sb.operator_running, sb.operator_error
            yield sb
    finally:
        os.environ.pop("PYTHONPATH") if before is None else os.environ.__setitem__("PYTHONPATH", before)


@pytest.fixture(scope="module")
def api(sandbox: Sandbox):
    with config.new_client_from_config(config_file=str(sandbox.kubeconfig)) as api:
        yield api


def _tasks(api: Any, name: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in (get_experiment(api, "default", name).get("status") or {}).get("tasks") or []}


def _phase_of(api: Any, name: str, task: str) -> str | None:
    return _tasks(api, name).get(task, {}).get("phase")


def _jobs(api: Any, name: str) -> list[str]:
    jobs = client.BatchV1Api(api).list_namespaced_job("default", label_selector=f"kuberun.dev/experiment={name}")
    return [j.metadata.name for j in jobs.items]


def _three_tasks(title: str, started: pathlib.Path, cleaned: pathlib.Path, quick: pathlib.Path) -> kr.Experiment:
    exp = kr.Experiment(title)
    exp.add(kr.Partial(tasks.wait_then_clean_up, started=str(started), cleaned=str(cleaned), timeout=120), name="slow")
    exp.add(kr.Partial(tasks.add, a=1), name="after", dependencies=["slow"])
    exp.add(kr.Partial(tasks.wait_then_clean_up, started=str(quick), cleaned=str(quick) + ".done", timeout=4), name="other")
    return exp


def test_kuberun_cancel_task_stops_that_task_skips_its_dependent_and_the_others_finish(sandbox, api, tmp_path):
    started, cleaned, quick = tmp_path / "started", tmp_path / "cleaned", tmp_path / "quick"
    exp = _three_tasks("cancel-one", started, cleaned, quick)
    name = exp.run(kubeconfig=str(sandbox.kubeconfig))["metadata"]["name"]
    wait_for(lambda: started.exists() and _phase_of(api, name, "slow") == "Running", timeout=60, what="slow running")
    jobs_before = _jobs(api, name)
    done = cli("cancel", name, "--task", "slow", kubeconfig=sandbox.kubeconfig)
    assert (done.code, done.stdout) == (0, f"experiment {name}: task slow cancelled\n"), done.stderr
    again = cli("cancel", name, "--task", "slow", kubeconfig=sandbox.kubeconfig)
    assert again.stdout in (f"experiment {name}: task slow is already being cancelled\n",
                            f"experiment {name}: task slow has already finished (Cancelled): nothing to cancel\n")
    wait_for(lambda: cleaned.exists(), timeout=60, what="the cancelled task's process to be stopped (its finally ran)")
    status = wait_for(lambda: (get_experiment(api, "default", name).get("status") or {}).get("phase") in
                      ("Cancelled", "Failed", "Succeeded") and get_experiment(api, "default", name)["status"],
                      timeout=90, what="the experiment to finish")
    by = {t["name"]: t for t in status["tasks"]}
    user = get_experiment(api, "default", name)["spec"]["cancelTasks"][0]["by"]
    assert user == connect(str(sandbox.kubeconfig)).user  # the CLI wrote who asked; admission held it to the caller
    slow, after, other = by["slow"], by["after"], by["other"]
    assert (slow["phase"], slow["reason"], slow["message"]) == ("Cancelled", "Cancelled", f"cancelled by {user} (spec.cancelTasks)")
    assert len(slow["attempts"]) == 1 and slow["attempts"][0]["phase"] == "Cancelled"
    assert (after["phase"], after["reason"]) == ("Skipped", "DependencyFailed") and not after.get("attempts")
    assert other["phase"] == "Succeeded" and pathlib.Path(str(quick) + ".done").exists()
    assert status["phase"] == "Cancelled"
    cancelled = next(c for c in status["conditions"] if c["type"] == "Cancelled")
    assert (cancelled["reason"], cancelled["message"]) == ("TasksCancelled", f"task 'slow' cancelled by {user} (spec.cancelTasks)")
    slow_job = next(j for j in jobs_before if "slow" in j)
    wait_for(lambda: slow_job not in _jobs(api, name), timeout=30, what="the cancelled task's Job to be deleted")


def test_exp_cancel_of_a_task_by_name_from_the_sdk_after_run(sandbox, api, tmp_path):
    started, cleaned, quick = tmp_path / "started", tmp_path / "cleaned", tmp_path / "quick"
    exp = _three_tasks("cancel-sdk", started, cleaned, quick)
    exp.run(kubeconfig=str(sandbox.kubeconfig))
    wait_for(lambda: started.exists(), timeout=60, what="slow started")
    exp.cancel("slow")
    with pytest.raises(kr.KuberunError, match="has no task 'nope' \\(tasks: slow, after, other\\)"):
        exp.cancel("nope")
    final = wait_for(lambda: (s := exp.status(return_dict=True)) and all(
        t["status"] in ("Succeeded", "Cancelled", "Skipped", "Failed") for t in s.values()) and s, timeout=90,
        what="every task to finish")
    assert {k: v["status"] for k, v in final.items()} == {"slow": "Cancelled", "after": "Skipped", "other": "Succeeded"}
    assert cleaned.exists()


def test_a_fault_tolerant_task_that_fails_once_succeeds_on_its_in_job_restart_in_one_attempt(sandbox, api):
    exp = kr.Experiment("ft")
    exp.add(kr.Partial(tasks.fail_until_restart, restarts=1), name="train",
            executor=kr.KubernetesExecutor(launcher=kr.FaultTolerance(max_restarts=2)))
    name = exp.run(kubeconfig=str(sandbox.kubeconfig))["metadata"]["name"]
    status = wait_for(lambda: (s := get_experiment(api, "default", name).get("status") or {}).get("phase")
                      in ("Succeeded", "Failed") and s, timeout=90, what="the experiment to finish")
    (train,) = status["tasks"]
    assert (train["phase"], len(train["attempts"])) == ("Succeeded", 1), train
    assert train["attempts"][0]["restarts"] == 1 and train["attempts"][0]["result"] == "1"
    log = "\n".join(kr.Experiment.get(name, kubeconfig=str(sandbox.kubeconfig)).logs("train"))
    assert "generation 0" in log and "in-job restart 1 of 2" in log and "generation 1" in log
    described = cli("describe", name, kubeconfig=sandbox.kubeconfig)
    assert "attempt 1: 1 in-job restart (FaultTolerance)" in described.stdout, described.stdout
