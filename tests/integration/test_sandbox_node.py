"""The sandbox node (kubelet + Job controller) and ``kuberun sandbox``, over real HTTP.

These tests start their own ``Sandbox`` rather than the session ``apiserver`` fixture: the node runs
every pod it sees, and the session server is shared with tests whose pods must stay inert. The
module's sandbox runs both ways: on the emulator (the node also plays Job controller) and on a real
control plane (the node is kubelet and scheduler only; the real Job controller counts the pods).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from kuberun_sandbox import Sandbox
from tests.realcluster.plugin import CONTROL_PLANES, binaries_missing

KUBECTL = "/usr/bin/kubectl"
NS = "default"


@pytest.fixture(scope="module", params=CONTROL_PLANES)
def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    if request.param == "real" and (reason := binaries_missing()) is not None:
        pytest.skip(reason)
    with Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), operator=False, control_plane=request.param) as sb:
        yield sb


@pytest.fixture(scope="module")
def api(sandbox: Sandbox) -> Iterator[Any]:
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    yield api_client
    api_client.close()


@pytest.fixture(scope="module")
def batch(api: Any) -> client.BatchV1Api:
    return client.BatchV1Api(api)


@pytest.fixture(scope="module")
def core(api: Any) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def job(name: str, argv: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11", "command": argv[:1], "args": argv[1:]}
    container.update(spec.pop("container", {}))
    pod_spec = {"restartPolicy": "Never", "containers": [container], **spec.pop("pod", {})}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": pod_spec}, **spec}}


def unique(prefix: str = "job") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        time.sleep(0.1)


def finished(batch: client.BatchV1Api, name: str, timeout: float = 20.0) -> Any:
    def cond() -> Any:
        status = batch.read_namespaced_job_status(name, NS).status
        done = [c for c in (status.conditions if status else None) or [] if c.type in ("Complete", "Failed") and c.status == "True"]
        return done[0] if done else None

    return wait_for(cond, timeout)


def pods_of(core: client.CoreV1Api, name: str) -> list[Any]:
    return core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items


def log_of(core: client.CoreV1Api, pod: str, **kw: Any) -> str:
    # _preload_content=False: the kubernetes client (v37) returns str(bytes) for text bodies otherwise.
    data: bytes = core.read_namespaced_pod_log(pod, NS, _preload_content=False, **kw).data
    return data.decode()


def test_job_runs_to_complete_with_pod_status_and_logs(sandbox: Sandbox, batch: Any, core: Any) -> None:
    name = unique()
    batch.create_namespaced_job(NS, job(name, ["python", "-c", "import sys; print('one'); print('two'); "
                                               "print('err', file=sys.stderr)"]))
    cond = finished(batch, name)
    status = batch.read_namespaced_job_status(name, NS).status
    [pod] = pods_of(core, name)
    term = pod.status.container_statuses[0].state.terminated
    assert cond.type == "Complete" and status.succeeded == 1 and status.completion_time and status.start_time
    assert pod.status.phase == "Succeeded" and term.exit_code == 0 and term.reason == "Completed"
    assert term.started_at and term.finished_at and pod.metadata.owner_references[0].name == name
    assert pod.metadata.labels["controller-uid"] == batch.read_namespaced_job(name, NS).metadata.uid
    assert log_of(core, pod.metadata.name) == "one\ntwo\nerr\n"
    assert log_of(core, pod.metadata.name, tail_lines=1, container="main") == "err\n"
    assert (sandbox.data_dir / "logs" / NS / f"{pod.metadata.name}.log").exists()
    out = subprocess.run([KUBECTL, "--kubeconfig", str(sandbox.kubeconfig), "logs", pod.metadata.name, "--tail=2"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "two\nerr\n"


def test_follow_streams_while_the_process_runs(batch: Any, core: Any) -> None:
    name = unique()
    script = "import time\nfor i in range(3):\n    print(i, flush=True); time.sleep(0.3)"
    batch.create_namespaced_job(NS, job(name, ["python", "-c", script]))
    pod = wait_for(lambda: [p for p in pods_of(core, name) if p.status and p.status.phase == "Running"])[0]
    assert log_of(core, pod.metadata.name, follow=True) == "0\n1\n2\n"


def test_failing_command_is_retried_up_to_backoff_limit(batch: Any, core: Any) -> None:
    name = unique()
    batch.create_namespaced_job(NS, job(name, ["python", "-c", "import sys; sys.exit(3)"], backoffLimit=1))
    cond = finished(batch, name)
    pods = pods_of(core, name)
    codes = [p.status.container_statuses[0].state.terminated for p in pods]
    assert cond.type == "Failed" and cond.reason == "BackoffLimitExceeded"
    assert len(pods) == 2 and {p.status.phase for p in pods} == {"Failed"}
    assert [(t.exit_code, t.reason) for t in codes] == [(3, "Error"), (3, "Error")]
    assert batch.read_namespaced_job_status(name, NS).status.failed == 2


def test_indexed_job_gives_each_pod_its_completion_index(batch: Any, core: Any) -> None:
    name = unique()
    env = [{"name": "NODE_RANK", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    code = "import os; print(os.environ['JOB_COMPLETION_INDEX'], os.environ['NODE_RANK'], os.environ['POD'])"
    batch.create_namespaced_job(NS, job(name, ["python", "-c", code], completions=2, parallelism=2,
                                        completionMode="Indexed", container={"env": env}))
    assert finished(batch, name).type == "Complete"
    seen = set()
    for pod in pods_of(core, name):
        index = pod.metadata.annotations["batch.kubernetes.io/job-completion-index"]
        assert pod.metadata.name.startswith(f"{name}-{index}-")
        seen.add(log_of(core, pod.metadata.name))
        assert log_of(core, pod.metadata.name) == f"{index} {index} {pod.metadata.name}\n"
    assert len(seen) == 2
    assert batch.read_namespaced_job_status(name, NS).status.completed_indexes == "0,1"  # a real Job controller writes a run of two as "0,1"


def test_suspend_kills_the_process_and_resume_starts_a_new_pod(batch: Any, core: Any, tmp_path: pathlib.Path) -> None:
    name, pid_file = unique(), tmp_path / "pid"
    code = f"import os, time, pathlib; pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(60)"
    batch.create_namespaced_job(NS, job(name, ["python", "-c", code]))
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text()))
    batch.patch_namespaced_job(name, NS, {"spec": {"suspend": True}})
    wait_for(lambda: not _alive(pid))
    wait_for(lambda: not pods_of(core, name))
    status = batch.read_namespaced_job_status(name, NS).status
    suspended = [c for c in status.conditions if c.type == "Suspended"]
    assert suspended and suspended[0].status == "True" and not status.active
    pid_file.unlink()
    batch.patch_namespaced_job(name, NS, {"spec": {"suspend": False}})
    new_pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text()))
    assert new_pid != pid and len(pods_of(core, name)) == 1
    batch.delete_namespaced_job(name, NS, propagation_policy="Background")
    wait_for(lambda: not _alive(new_pid))


def test_active_deadline_fails_the_job(batch: Any) -> None:
    name = unique()
    batch.create_namespaced_job(NS, job(name, ["python", "-c", "import time; time.sleep(30)"], activeDeadlineSeconds=1))
    cond = finished(batch, name, timeout=10)
    assert cond.type == "Failed" and cond.reason == "DeadlineExceeded"


def test_configmap_volume_is_readable_at_the_rewritten_path(batch: Any, core: Any) -> None:
    name = unique()
    core.create_namespaced_config_map(NS, {"metadata": {"name": name}, "data": {"task": '{"x": 1}', "other": "no"}})
    code = "import sys, os, json; print(json.load(open(sys.argv[2]))['x'], open(os.environ['CFG']).read())"
    container = {"env": [{"name": "CFG", "value": "/etc/kuberun/task/x.json"}],
                 "envFrom": [{"configMapRef": {"name": name}, "prefix": "CM_"}],
                 "volumeMounts": [{"name": "task", "mountPath": "/etc/kuberun/task", "readOnly": True}]}
    pod = {"volumes": [{"name": "task", "configMap": {"name": name, "items": [{"key": "task", "path": "x.json"}]}}]}
    batch.create_namespaced_job(NS, job(name, ["python", "-c", code, "--config", "/etc/kuberun/task/x.json"],
                                        container=container, pod=pod))
    assert finished(batch, name).type == "Complete"
    assert log_of(core, pods_of(core, name)[0].metadata.name) == '1 {"x": 1}\n'


def test_hostile_arguments_and_env_reach_the_process_verbatim(batch: Any, core: Any) -> None:
    name = unique()
    hostile = ["; rm -rf / #", "$(touch /tmp/pwned)", "`id`", "a b\"c'd", "$HOME", "*", "\n", "$$X", "$(GREETING)!"]
    env = [{"name": "GREETING", "value": "hi; echo $(id)"}, {"name": "EVIL", "value": "$(GREETING) && `ls`"}]
    code = "import sys, os, json; print(json.dumps([sys.argv[1:], os.environ['EVIL']]))"
    batch.create_namespaced_job(NS, job(name, ["python", "-c", code, *hostile], container={"env": env}))
    assert finished(batch, name).type == "Complete"
    argv, evil = json.loads(log_of(core, pods_of(core, name)[0].metadata.name))
    # Kubernetes expansion only: $(VAR) of a defined variable, $$ -> $; nothing else is interpreted.
    assert argv == [*hostile[:7], "$X", "hi; echo $(id)!"]
    assert evil == "hi; echo $(id) && `ls`"
    assert not pathlib.Path("/tmp/pwned").exists()


def test_deleting_a_job_kills_its_processes(batch: Any, core: Any, tmp_path: pathlib.Path) -> None:
    name, pid_file = unique(), tmp_path / "pid"
    code = ("import os, subprocess, sys, time, pathlib; child = subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(60)']); pathlib.Path(" + repr(str(pid_file)) +
            ").write_text(f'{os.getpid()} {child.pid}'); time.sleep(60)")
    batch.create_namespaced_job(NS, job(name, ["python", "-c", code]))
    pids = [int(p) for p in wait_for(lambda: pid_file.exists() and pid_file.read_text()).split()]
    batch.delete_namespaced_job(name, NS, propagation_policy="Background")
    wait_for(lambda: not any(_alive(p) for p in pids))  # the whole process group, child included


def test_complete_immediately_mode_runs_nothing(tmp_path: pathlib.Path) -> None:
    with Sandbox(data_dir=tmp_path, operator=False, complete_immediately=True) as sb, _clients(sb) as (batch, core):
        batch.create_namespaced_job(NS, job("fast", ["python", "-c", "raise SystemExit(1)"], completions=3))
        assert finished(batch, "fast").type == "Complete"
        assert batch.read_namespaced_job_status("fast", NS).status.succeeded == 3 and not pods_of(core, "fast")


def test_a_pod_create_whose_answer_is_lost_does_not_become_a_second_pod(tmp_path: pathlib.Path) -> None:
    """The pod is stored, the answer lost, and the pod watch down (as when the API server dies mid
    answer): the Job controller's retry must find that pod on the server, not create another that
    runs the task a second time (chaos: "executed 2 times under one attempt")."""
    runs = tmp_path / "runs"
    with Sandbox(data_dir=tmp_path / "sb", operator=False) as sb, _clients(sb) as (batch, core):
        watch_down = sb.server.inject(status=500, times=None, verb="watch", resource="pods")
        sb.server.drop_watches()
        lost = sb.server.inject(status=None, times=1, verb="create", resource="pods", drop_after=0)
        batch.create_namespaced_job(NS, job("lost", ["sh", "-c", f"echo run >> {runs}"]))
        wait_for(lambda: lost.hits == 1)
        time.sleep(2.0)  # several of the controller's retries (0.5 s apart) while the watch is down
        sb.server.faultset.remove(watch_down.id)
        assert finished(batch, "lost").type == "Complete"
        assert len(pods_of(core, "lost")) == 1
        assert runs.read_text().splitlines() == ["run"]


def test_running_pod_becomes_sandbox_restarted_after_a_restart(tmp_path: pathlib.Path) -> None:
    with Sandbox(data_dir=tmp_path, operator=False) as sb, _clients(sb) as (batch, core):
        batch.create_namespaced_job(NS, job("long", ["python", "-c", "import time; time.sleep(60)"]))
        batch.create_namespaced_job(NS, job("short", ["python", "-c", "print('ok')"]))
        wait_for(lambda: [p for p in pods_of(core, "long") if p.status and p.status.phase == "Running"])
        finished(batch, "short")
    with Sandbox(data_dir=tmp_path, operator=False) as sb, _clients(sb) as (batch, core):
        cond = finished(batch, "long")
        [pod] = pods_of(core, "long")
        assert cond.type == "Failed" and cond.reason == "BackoffLimitExceeded"
        assert pod.status.phase == "Failed" and pod.status.reason == "SandboxRestarted"
        assert finished(batch, "short").type == "Complete" and len(pods_of(core, "short")) == 1


@contextlib.contextmanager
def _clients(sb: Sandbox) -> Iterator[tuple[client.BatchV1Api, client.CoreV1Api]]:
    with config.new_client_from_config(config_file=str(sb.kubeconfig)) as api_client:
        yield client.BatchV1Api(api_client), client.CoreV1Api(api_client)


# --- the command line ----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_cli(port: int, data_dir: pathlib.Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kuberun.cli", "sandbox", "--port", str(port), "--data-dir",
                             str(data_dir), "--no-operator"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_hint(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines = []
    start = time.monotonic()
    for line in proc.stdout:
        lines.append(line)
        if "export KUBECONFIG=" in line:
            return line.split("=", 1)[1].strip()
        if time.monotonic() - start > 15:
            break
    raise AssertionError(f"no kubeconfig hint: {''.join(lines)}")


def _kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=20)


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=20)


def test_cli_starts_refuses_a_busy_port_stops_on_sigint_and_keeps_state(tmp_path: pathlib.Path) -> None:
    port, data_dir = _free_port(), tmp_path / "state"
    # A ratio, not seconds: the machine's load slows both alike. An interpreter importing the sandbox is
    # the unit; the sandbox starts two (the CLI and its node process) and an API server (about 2-3 units).
    unit_start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import kuberun.cli, kuberun_sandbox.run, kuberun_sandbox.node"], check=True)
    unit = time.monotonic() - unit_start
    start = time.monotonic()
    proc = _start_cli(port, data_dir)
    try:
        kubeconfig = _wait_hint(proc)
        elapsed = time.monotonic() - start
        assert elapsed < 6 * unit, f"the sandbox took {elapsed:.1f} s to start, {elapsed / unit:.1f}x an import of it"
        assert kubeconfig == str(data_dir / "kubeconfig")
        got = _kubectl(kubeconfig, "get", "ns")
        assert got.returncode == 0 and "default" in got.stdout, got.stderr
        # `kubectl apply`, not `kubectl create configmap`: create sends protobuf, which the emulator does not speak.
        manifest = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}, "data": {"a": "b"}}'
        applied = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "apply", "-f", "-"], input=manifest,
                                 capture_output=True, text=True, timeout=20)
        assert applied.returncode == 0, applied.stderr
        second = _start_cli(port, tmp_path / "other")
        _, err = second.communicate(timeout=20)
        assert second.returncode == 1
        assert "already in use" in err and len(err.strip().splitlines()) == 1, err
    finally:
        code = _stop(proc)
    assert code == 0
    proc = _start_cli(port, data_dir)
    try:
        kubeconfig = _wait_hint(proc)
        got = _kubectl(kubeconfig, "get", "configmap", "kept", "-o", "jsonpath={.data.a}")
        assert got.stdout == "b", got.stderr
    finally:
        assert _stop(proc) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as dead; so does one reaped since os.kill (the
    # read then fails with ESRCH or ENOENT — the race that made this helper flaky).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False
