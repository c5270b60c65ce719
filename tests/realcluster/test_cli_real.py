"""``kuberun sandbox --control-plane real`` as a user runs it: starts, serves kubectl (nodes, logs),
refuses a busy port in one line, stops on SIGINT leaving no process behind, and keeps its state."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from tests.realcluster.plugin import binaries_missing

KUBECTL = "/usr/bin/kubectl"
pytestmark = pytest.mark.skipif(not pathlib.Path(KUBECTL).exists(), reason="kubectl is not installed")
START_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def _binaries() -> None:
    if (reason := binaries_missing()) is not None:
        pytest.skip(reason)


def _free_port() -> int:
    from kuberun_sandbox.realcp.daemons import free_port

    return free_port()


def _start(port: int, data_dir: pathlib.Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kuberun.cli", "sandbox", "--control-plane", "real", "--port",
                             str(port), "--data-dir", str(data_dir), "--no-operator"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _hint(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines, start = [], time.monotonic()
    for line in proc.stdout:
        lines.append(line)
        if "export KUBECONFIG=" in line:
            return line.split("=", 1)[1].strip()
        if time.monotonic() - start > START_TIMEOUT:
            break
    raise AssertionError(f"no kubeconfig hint: {''.join(lines)}")


def _kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True,
                          timeout=30)


def _processes_using(path: pathlib.Path) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{pid}: {cmdline[:200]}")
    return found


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=60)


def test_real_sandbox_cli_serves_kubectl_refuses_busy_port_stops_cleanly_and_keeps_state(tmp_path):
    port, data_dir = _free_port(), tmp_path / "state"
    proc = _start(port, data_dir)
    try:
        kubeconfig = _hint(proc)
        assert kubeconfig == str(data_dir / "kubeconfig")
        assert oct(pathlib.Path(kubeconfig).stat().st_mode & 0o777) == "0o600"
        nodes = _kubectl(kubeconfig, "get", "nodes", "--no-headers")
        assert nodes.returncode == 0 and nodes.stdout.split()[:2] == ["kuberun-sandbox", "Ready"], nodes.stderr
        created = _kubectl(kubeconfig, "create", "configmap", "kept", "--from-literal=a=b")  # protobuf: real server
        assert created.returncode == 0, created.stderr
        second = _start(port, tmp_path / "other")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "already in use" in err and len(err.strip().splitlines()) == 1, err
    finally:
        code = _stop(proc)
    assert code == 0
    assert _processes_using(data_dir) == []
    proc = _start(port, data_dir)
    try:
        kubeconfig = _hint(proc)
        got = _kubectl(kubeconfig, "get", "configmap", "kept", "-o", "jsonpath={.data.a}")
        assert got.stdout == "b", got.stderr
    finally:
        assert _stop(proc) == 0
    assert _processes_using(data_dir) == []
