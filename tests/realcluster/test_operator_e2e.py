"""The operator end to end with real task processes, on the emulator and on a real control plane.

tests/integration/test_operator.py plays the Job controller by hand to choose each outcome; a real
kube-controller-manager would overwrite (or a real API server refuse) such hand-written Job status,
so these scenarios choose outcomes through the tasks themselves (exit codes, markers, sleeps) and
let whichever Job controller the control plane has count the pods. Same assertions both ways.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import kuberun as kr
from kuberun.resource.constants import GROUP, PLURAL, VERSION
from kuberun.resource.times import parse_time
from tests.fixtures import tasks
from tests.helpers.jobs import list_jobs
from tests.helpers.operator import get_experiment, phase, wait_for
from tests.realcluster.plugin import CONTROL_PLANES, binaries_missing

RUN_TIMEOUT = 90.0  # a real Job controller adds ~1 s per step; bounded all the same
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _here() -> kr.KubernetesExecutor:
    """Task processes run in their pod directory: let the runner import tests.fixtures.tasks."""
    return kr.KubernetesExecutor(env={"PYTHONPATH": str(ROOT)})


@pytest.fixture(scope="module", params=CONTROL_PLANES)
def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if request.param == "real" and (reason := binaries_missing()) is not None:
        pytest.skip(reason)
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), operator=True, control_plane=request.param) as sb:
        if not sb.operator_running:
            pytest.fail(f"the operator did not start: {sb.operator_error}")
        yield sb


@pytest.fixture(scope="module")
def api(sandbox: Any) -> Iterator[Any]:
    from kubernetes import config

    with config.new_client_from_config(config_file=str(sandbox.kubeconfig)) as api_client:
        yield api_client


@pytest.fixture()
def ns(api: Any) -> str:
    from kubernetes import client

    name = f"e2e-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def _submit(sandbox: Any, ns: str, build: Any) -> str:
    exp = kr.Experiment("e2e", namespace=ns)
    build(exp)
    return str(exp.run(kubeconfig=str(sandbox.kubeconfig))["metadata"]["name"])


def _jobs(api: Any, ns: str, name: str) -> list[str]:
    return sorted(j["metadata"]["name"] for j in list_jobs(api, ns, f"kuberun.dev/experiment={name}"))


def _finished(api: Any, ns: str, name: str) -> str:
    return str(wait_for(lambda: phase(api, ns, name) in ("Succeeded", "Failed", "Cancelled") and phase(api, ns, name),
                        timeout=RUN_TIMEOUT, what=f"experiment {name} to finish"))


def _python(code: str) -> kr.Script:
    return kr.Script(command=["python", "-c", code])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_dag_of_real_tasks_runs_to_succeeded_with_one_job_per_task_and_logs(sandbox: Any, api: Any, ns: str) -> None:
    def build(exp: Any) -> None:
        a = exp.add(kr.Partial(tasks.add, a=1), name="a", executor=_here())
        b = exp.add(kr.Partial(tasks.add, a=2), name="b", executor=_here())
        exp.add(_python("print('c ran after a and b')"), name="c", dependencies=[a, b])

    name = _submit(sandbox, ns, build)
    assert _finished(api, ns, name) == "Succeeded"
    status = get_experiment(api, ns, name)["status"]
    assert status["progress"] == "3/3"
    assert _jobs(api, ns, name) == [f"{name}-a-1", f"{name}-b-1", f"{name}-c-1"]
    by_task = {t["name"]: t for t in status["tasks"]}
    assert {t: (s["phase"], s.get("exitCode")) for t, s in by_task.items()} == {
        "a": ("Succeeded", 0), "b": ("Succeeded", 0), "c": ("Succeeded", 0)}
    # c started only after a and b finished.
    # (as instants: the record mixes whole-second Job times with sub-second submit times)
    assert parse_time(by_task["c"]["attempts"][0]["startTime"]) >= max(parse_time(by_task[t]["finishTime"]) for t in ("a", "b"))
    out = subprocess.run([sys.executable, "-m", "kuberun.cli", "logs", name, "c", "--kubeconfig", str(sandbox.kubeconfig),
                          "--namespace", ns], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "c ran after a and b" in out.stdout


def test_failed_attempt_is_retried_as_a_new_job_with_the_real_exit_codes(sandbox: Any, api: Any, ns: str,
                                                                          tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "first-attempt-done"
    code = (f"import pathlib, sys; m = pathlib.Path({str(marker)!r})\n"
            "if not m.exists():\n    m.write_text('1'); sys.exit(3)\nprint('second attempt')")
    name = _submit(sandbox, ns, lambda exp: exp.add(_python(code), name="t", retries=1, backoff_seconds=0))
    assert _finished(api, ns, name) == "Succeeded"
    (task,) = get_experiment(api, ns, name)["status"]["tasks"]
    assert [(a["attempt"], a["phase"], a.get("exitCode")) for a in task["attempts"]] == [(1, "Failed", 3), (2, "Succeeded", 0)]
    assert _jobs(api, ns, name) == [f"{name}-t-1", f"{name}-t-2"]


def test_permanent_failure_fails_the_experiment_and_skips_dependents(sandbox: Any, api: Any, ns: str) -> None:
    def build(exp: Any) -> None:
        exp.add(kr.Partial(tasks.fail, message="the task's own error"), name="a", executor=_here())
        exp.add(kr.Partial(tasks.add, a=1), name="b", dependencies=["a"], executor=_here())

    name = _submit(sandbox, ns, build)
    assert _finished(api, ns, name) == "Failed"
    status = get_experiment(api, ns, name)["status"]
    a, b = (next(t for t in status["tasks"] if t["name"] == n) for n in ("a", "b"))
    assert a["phase"] == "Failed" and a["exitCode"] == 1
    assert b["phase"] == "Skipped" and b["reason"] == "DependencyFailed"
    assert _jobs(api, ns, name) == [f"{name}-a-1"]
    out = subprocess.run([sys.executable, "-m", "kuberun.cli", "logs", name, "a", "--kubeconfig", str(sandbox.kubeconfig),
                          "--namespace", ns], capture_output=True, text=True, timeout=60)
    assert "RuntimeError: the task's own error" in out.stdout, out.stdout + out.stderr


def _long_task(pid_file: pathlib.Path) -> kr.Script:
    return _python(f"import os, pathlib, time; pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); "
                   "time.sleep(120)")


def test_terminate_kills_the_running_process_and_cancels(sandbox: Any, api: Any, ns: str, tmp_path: pathlib.Path) -> None:
    from kubernetes import client

    pid_file = tmp_path / "pid"
    name = _submit(sandbox, ns, lambda exp: exp.add(_long_task(pid_file), name="t"))
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=RUN_TIMEOUT, what="the task to start"))
    wait_for(lambda: phase(api, ns, name) == "Running", timeout=RUN_TIMEOUT)
    client.CustomObjectsApi(api).patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name,
                                                                {"spec": {"shutdown": "Terminate"}})
    assert _finished(api, ns, name) == "Cancelled"
    wait_for(lambda: not _jobs(api, ns, name), timeout=RUN_TIMEOUT, what="the Job deleted")
    wait_for(lambda: not _alive(pid), timeout=30, what="the task's process killed")


def test_deleting_the_experiment_collects_its_jobs_pods_and_processes(sandbox: Any, api: Any, ns: str,
                                                                       tmp_path: pathlib.Path) -> None:
    from kubernetes import client

    pid_file = tmp_path / "pid"
    name = _submit(sandbox, ns, lambda exp: exp.add(_long_task(pid_file), name="t"))
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=RUN_TIMEOUT, what="the task to start"))
    client.CustomObjectsApi(api).delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    core = client.CoreV1Api(api)
    wait_for(lambda: not _jobs(api, ns, name), timeout=RUN_TIMEOUT, what="Jobs collected by owner reference")
    wait_for(lambda: not core.list_namespaced_pod(ns).items, timeout=RUN_TIMEOUT, what="pods collected")
    wait_for(lambda: not _alive(pid), timeout=30, what="the task's process killed")
    wait_for(lambda: not client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"],
             timeout=RUN_TIMEOUT, what="the experiment gone")


def test_a_tasks_result_and_metrics_travel_through_the_termination_message(sandbox: Any, api: Any, ns: str) -> None:
    """The runner's summary goes to terminationMessagePath; the node reports it as the kubelet does; the
    operator records it on the attempt — through the real API server's pod status as through the emulator's."""
    def build(exp: Any) -> None:
        exp.add(kr.Partial(tasks.report, steps=3, result={"best": 0.5}), name="ok", executor=_here())
        exp.add(kr.Partial(tasks.report, steps=2, fail=True), name="bad", executor=_here())

    name = _submit(sandbox, ns, build)
    assert _finished(api, ns, name) == "Failed"
    by_task = {t["name"]: t["attempts"][-1] for t in get_experiment(api, ns, name)["status"]["tasks"]}
    ok, bad = by_task["ok"], by_task["bad"]
    assert ok["result"] == '{"best":0.5}' and ok["metrics"]["loss"]["step"] == 2
    assert ok["metrics"]["diverged"] == {"special": "NaN"}
    assert bad["phase"] == "Failed" and bad["metrics"]["loss"]["value"] == 0.5
    assert "kuberun.dev/summary" not in bad.get("message", "")
