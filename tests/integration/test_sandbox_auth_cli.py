"""``kuberun sandbox user``: another process mints a user into a running ``kuberun sandbox``.

The token lands (as a digest) in the sandbox's token file; the running server, meeting a token it
does not know, reads the file again — so the new kubeconfig works at once, and only for what the
user was granted. The administrator's kubeconfig survives a restart (same CA, same token).
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

KUBECTL = pathlib.Path(__file__).resolve().parents[2] / ".tools" / "bin" / "kubectl"
pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl is installed by .ci/install-helm.sh into .tools/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(port: int, data_dir: pathlib.Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "kuberun_sandbox", "--port", str(port), "--data-dir", str(data_dir),
                             "--no-operator"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if "export KUBECONFIG=" in line or time.monotonic() > deadline:
            break
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _kubectl(kubeconfig: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KUBECTL), "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True, timeout=60)


def _user(data_dir: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kuberun_sandbox", "user", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60)


def test_user_minted_by_another_process_works_at_once_and_only_where_granted(tmp_path):
    port, data_dir = _free_port(), tmp_path / "state"
    proc = _start(port, data_dir)
    try:
        minted = _user(data_dir, "carol", "--namespace", "team-c")
        assert minted.returncode == 0, minted.stderr
        kubeconfig = pathlib.Path(minted.stdout.strip())
        assert kubeconfig == data_dir / "users" / "carol.kubeconfig"
        assert stat.S_IMODE(os.stat(kubeconfig).st_mode) == 0o600
        assert _kubectl(kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == "carol"
        assert _kubectl(kubeconfig, "get", "configmaps").returncode == 0  # team-c, the kubeconfig's namespace
        denied = _kubectl(kubeconfig, "get", "configmaps", "-n", "default")
        assert denied.returncode == 1 and 'User "carol" cannot list resource "configmaps"' in denied.stderr
        assert _user(data_dir, "system:admin").returncode == 2  # refused with a clear error, nothing minted
    finally:
        _stop(proc)
    proc = _start(port, data_dir)  # restarted: the same CA and the administrator's same token still work
    try:
        assert _kubectl(data_dir / "kubeconfig", "get", "ns", "team-c").returncode == 0
        assert _kubectl(kubeconfig, "get", "configmaps").returncode == 0
    finally:
        _stop(proc)


def test_user_without_a_running_sandbox_says_so(tmp_path):
    got = _user(tmp_path / "nothing", "dave")
    assert got.returncode == 1 and "start `kuberun sandbox` first" in got.stderr
