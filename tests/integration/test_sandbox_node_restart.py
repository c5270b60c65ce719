"""The sandbox node survives its own death (issue 19): SIGKILLed mid-run and started again, it
adopts live task processes, reports what ended while it was down, stops what was deleted meanwhile,
and never runs a task twice. Executions are counted from the tasks' own side-effect files.

The node runs as its own process (``tests/helpers/sandbox_node.py``) against an emulator in a
thread of the test, whose fault injection makes status writes fail.
"""

from __future__ import annotations

import functools
import os
import pathlib
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from kuberun_sandbox.apiserver import run_in_thread
from kuberun_sandbox.kubeconfig import write_kubeconfig
from kuberun_sandbox.podstate import PodState, known_uids
from tests.helpers.operator import wait_for as wait_until
from tests.helpers.sandbox_node import NodeProcess

NS = "default"


@pytest.fixture
def server() -> Iterator[Any]:
    with run_in_thread() as srv:
        yield srv


@pytest.fixture
def api(server: Any, tmp_path: pathlib.Path) -> Iterator[tuple[client.BatchV1Api, client.CoreV1Api]]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url)
    with config.new_client_from_config(config_file=str(kubeconfig)) as api_client:
        yield client.BatchV1Api(api_client), client.CoreV1Api(api_client)


@pytest.fixture
def node(server: Any, tmp_path: pathlib.Path) -> Iterator[NodeProcess]:
    token = server.auth.mint("system:node:kuberun-sandbox", ("system:nodes", "system:masters"))
    proc = NodeProcess(server.url, token, server.auth.ca_pem, tmp_path / "node", gc_period=0.5)
    try:
        yield proc.start()
    finally:
        proc.stop()
        _kill_leftovers(tmp_path / "node")


def _kill_leftovers(data_dir: pathlib.Path) -> None:
    """Stop any task process a failed test left (every test stops what it started)."""
    root = data_dir / "node-state"
    for uid in known_uids(root):
        pid = PodState(root, uid).alive_pid()
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)


def task(name: str, marks: pathlib.Path, seconds: float, code: int = 0) -> dict[str, Any]:
    """A Job whose task appends ``start``/``end`` to ``marks/<name>``: its real executions."""
    script = (f"import pathlib, sys, time; f = pathlib.Path({str(marks / name)!r}); "
              f"f.open('a').write('start\\n'); time.sleep({seconds}); f.open('a').write('end\\n'); sys.exit({code})")
    container = {"name": "main", "image": "python:3.11", "command": [sys.executable, "-c", script]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}


wait_for = functools.partial(wait_until, timeout=30.0)  # a restarted node needs longer than the default


def outcome(batch: client.BatchV1Api, name: str) -> str | None:
    status = batch.read_namespaced_job_status(name, NS).status
    for cond in (status.conditions if status else None) or []:
        if cond.type in ("Complete", "Failed") and cond.status == "True":
            return str(cond.type)
    return None


def pods_of(core: client.CoreV1Api, name: str) -> list[Any]:
    return core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items


def phase_of(core: client.CoreV1Api, name: str) -> list[str]:
    return [p.status.phase if p.status else "" for p in pods_of(core, name)]


def test_a_sigkilled_node_adopts_live_tasks_and_each_runs_once(api: Any, node: NodeProcess,
                                                               tmp_path: pathlib.Path) -> None:
    batch, core = api
    marks = tmp_path / "marks"
    marks.mkdir()
    long_names = [f"long-{i}" for i in range(4)]
    for name in long_names:
        batch.create_namespaced_job(NS, task(name, marks, 3.0))
    batch.create_namespaced_job(NS, task("ends-while-down", marks, 0.5, code=3))
    batch.create_namespaced_job(NS, task("ok-while-down", marks, 0.5))
    every = [*long_names, "ends-while-down", "ok-while-down"]
    wait_for(lambda: all((marks / n).exists() for n in every), what="every task started")
    node.kill()
    # Down for longer than the short tasks run: they end with no node to see it.
    wait_for(lambda: all((marks / n).read_text().count("end") for n in ("ends-while-down", "ok-while-down")),
             what="the short tasks ended while the node was down")
    node.start()
    for name in [*long_names, "ok-while-down"]:
        assert wait_for(lambda n=name: outcome(batch, n), what=f"{name} finished") == "Complete", name
    # backoffLimit 2: a failed pod would be retried; the one that exited 3 is the first attempt's.
    assert wait_for(lambda: outcome(batch, "ends-while-down"), what="retries exhausted") == "Failed"
    pods = pods_of(core, "ends-while-down")
    assert len(pods) == 3 and all(p.status.container_statuses[0].state.terminated.exit_code == 3 for p in pods)
    assert (marks / "ends-while-down").read_text() == "start\nend\n" * 3, "one execution per attempt"
    for name in [*long_names, "ok-while-down"]:
        [pod] = pods_of(core, name)
        assert pod.status.phase == "Succeeded", name
        assert pod.status.container_statuses[0].state.terminated.exit_code == 0
    for name in [*long_names, "ok-while-down"]:
        assert (marks / name).read_text() == "start\nend\n", f"{name} ran other than once"


def test_processes_of_pods_deleted_while_the_node_is_down_are_stopped(api: Any, node: NodeProcess,
                                                                      tmp_path: pathlib.Path) -> None:
    batch, core = api
    marks = tmp_path / "marks"
    marks.mkdir()
    batch.create_namespaced_job(NS, task("doomed-job", marks, 60))
    pod_spec = task("doomed-pod", marks, 60)["spec"]["template"]["spec"]
    core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "doomed-pod"},
                                    "spec": pod_spec})
    wait_for(lambda: (marks / "doomed-job").exists() and (marks / "doomed-pod").exists(), what="both started")
    wait_for(lambda: phase_of(core, "doomed-job") == ["Running"], what="the Job's pod Running")
    records = node.data_dir / "node-state"
    uids = {p.metadata.uid for p in [*pods_of(core, "doomed-job"), core.read_namespaced_pod("doomed-pod", NS)]}
    pids = {uid: PodState(records, uid).alive_pid() for uid in uids}
    assert all(pids.values()), pids
    node.kill()
    batch.delete_namespaced_job("doomed-job", NS, propagation_policy="Background")  # its pod: Terminating
    core.delete_namespaced_pod("doomed-pod", NS, grace_period_seconds=0)              # gone at once
    time.sleep(0.5)
    assert all(PodState(records, uid).alive_pid() for uid in uids), "the processes outlive a dead node"
    node.start()
    wait_for(lambda: not any(PodState(records, uid).alive_pid() for uid in uids), what="processes stopped")
    wait_for(lambda: not pods_of(core, "doomed-job"), what="the Terminating pod's deletion confirmed")
    wait_for(lambda: not any((records / uid).exists() for uid in uids), what="records dropped")
    assert "end" not in (marks / "doomed-job").read_text() + (marks / "doomed-pod").read_text()


def test_a_pod_whose_running_write_was_lost_is_not_started_again(server: Any, api: Any, node: NodeProcess,
                                                                  tmp_path: pathlib.Path) -> None:
    batch, core = api
    marks = tmp_path / "marks"
    marks.mkdir()
    fault = server.inject(500, times=10_000, verb="patch", resource="pods/status")
    batch.create_namespaced_job(NS, task("unreported", marks, 2.0))
    wait_for(lambda: (marks / "unreported").exists(), what="the task started")
    assert phase_of(core, "unreported") == ["Pending"], "no status write got through"
    node.kill()
    fault.times = 0  # the API server accepts status writes again
    node.start()
    assert wait_for(lambda: outcome(batch, "unreported"), what="the Job finished") == "Complete"
    assert fault.hits > 0
    assert (marks / "unreported").read_text() == "start\nend\n"
    assert len(pods_of(core, "unreported")) == 1


def test_status_writes_retried_through_injected_500s_converge(server: Any, api: Any, node: NodeProcess,
                                                              tmp_path: pathlib.Path) -> None:
    batch, _ = api
    marks = tmp_path / "marks"
    marks.mkdir()
    # Every status write fails for a while, final ones included: nothing may be dropped.
    fault = server.inject(500, times=40, verb="patch", resource="pods/status")
    names = [f"flaky-{i}" for i in range(6)]
    for name in names:
        batch.create_namespaced_job(NS, task(name, marks, 0.2))
    for name in names:
        assert wait_for(lambda n=name: outcome(batch, n), what=f"{name} finished", timeout=60) == "Complete"
    assert fault.times == 0 and fault.hits == 40
    assert all((marks / n).read_text() == "start\nend\n" for n in names)


def test_a_clean_stop_reports_sandbox_restarted_and_runs_nothing_twice(api: Any, node: NodeProcess,
                                                                       tmp_path: pathlib.Path) -> None:
    batch, core = api
    marks = tmp_path / "marks"
    marks.mkdir()
    job = task("interrupted", marks, 60)
    job["spec"]["backoffLimit"] = 0
    batch.create_namespaced_job(NS, job)
    wait_for(lambda: phase_of(core, "interrupted") == ["Running"] and (marks / "interrupted").exists(),
             what="Running")
    node.stop()  # SIGTERM: the node kills its processes and says so in its records
    node.start()
    assert wait_for(lambda: outcome(batch, "interrupted"), what="the Job finished") == "Failed"
    [pod] = pods_of(core, "interrupted")
    assert pod.status.reason == "SandboxRestarted"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 137
    assert (marks / "interrupted").read_text() == "start\n"


def test_the_sandbox_node_process_is_killed_and_restarted_with_logs_served(tmp_path: pathlib.Path) -> None:
    from kuberun_sandbox import Sandbox

    marks = tmp_path / "marks"
    marks.mkdir()
    with Sandbox(data_dir=tmp_path / "sb", operator=False, node_process=True) as sb, \
            config.new_client_from_config(config_file=str(sb.kubeconfig)) as api_client:
        batch, core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)
        job = task("survivor", marks, 2.0)
        job["spec"]["template"]["spec"]["containers"][0]["command"][-1] = (
            "import time; print('hello', flush=True); " + job["spec"]["template"]["spec"]["containers"][0]["command"][-1])
        batch.create_namespaced_job(NS, job)
        wait_for(lambda: (marks / "survivor").exists(), what="started")
        node_pid = sb.node.pid
        sb.kill_node()
        assert not _process_exists(node_pid)
        sb.start_node()
        assert wait_for(lambda: outcome(batch, "survivor"), what="finished") == "Complete"
        [pod] = pods_of(core, "survivor")
        # pods/log comes from the node's files: the API server and the node are two processes.
        data = core.read_namespaced_pod_log(pod.metadata.name, NS, _preload_content=False).data.decode()
        assert data == "hello\n"
    assert (marks / "survivor").read_text() == "start\nend\n"


def _process_exists(pid: int | None) -> bool:
    """Alive and not a zombie (a killed child its parent has not reaped yet is dead)."""
    try:
        return pid is not None and pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False
