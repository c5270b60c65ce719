"""Exit codes and signals as Kubernetes reports them, through ``python -m kuberun.runner`` as a process.

Regression for: a task killed by SIGSEGV recorded as exit 245 and by SIGKILL as 247, and a runner that
neither handled nor forwarded SIGTERM (so ``terminationGracePeriodSeconds`` could never work).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kuberun as kr
from kuberun.runner import task_document
from kuberun.signals import exit_code
from tests.fixtures import tasks


def _doc(task) -> dict:
    exp = kr.Experiment("signals")
    exp.add(task, name="t", executor=kr.LocalExecutor())
    resource, _ = exp.build()
    return task_document(resource.spec.tasks[0])


def _start(doc: dict, tmp_path: Path) -> subprocess.Popen[str]:
    path = tmp_path / "task.json"
    path.write_text(json.dumps(doc))
    return subprocess.Popen([sys.executable, "-m", "kuberun.runner", "--config", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(("returncode", "expected"), [(0, 0), (1, 1), (3, 3), (-9, 137), (-11, 139), (-15, 143)],
                         ids=["ok", "failed", "own-code", "sigkill", "sigsegv", "sigterm"])
def test_exit_code_follows_the_128_plus_n_convention(returncode: int, expected: int) -> None:
    assert exit_code(returncode) == expected


@pytest.mark.parametrize(("sig", "expected"), [(signal.SIGSEGV, 139), (signal.SIGKILL, 137)], ids=["segv", "kill"])
def test_a_script_killed_by_a_signal_exits_128_plus_n(tmp_path: Path, sig: signal.Signals, expected: int) -> None:
    proc = _start(_doc(kr.Script(inline=f"kill -{sig.name.removeprefix('SIG')} $$")), tmp_path)
    assert proc.wait(timeout=60) == expected


def test_sigterm_is_forwarded_to_the_script_which_may_clean_up(tmp_path: Path) -> None:
    started, cleaned = tmp_path / "started", tmp_path / "cleaned"
    script = (f"trap 'echo bye > {cleaned}; exit 143' TERM\n"
              f"touch {started}\n"
              "while true; do sleep 0.05; done\n")
    proc = _start(_doc(kr.Script(inline=script)), tmp_path)
    _wait_for(started)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert cleaned.read_text().strip() == "bye"


def test_sigterm_stops_an_in_process_task_with_its_finally_blocks_run(tmp_path: Path) -> None:
    started, cleaned = tmp_path / "started", tmp_path / "cleaned"
    proc = _start(_doc(kr.Partial(tasks.wait_then_clean_up, started=str(started), cleaned=str(cleaned))), tmp_path)
    _wait_for(started)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert cleaned.read_text() == "cleaned"
    assert "task stopped: received SIGTERM" in proc.stderr.read()


def test_a_task_leaves_no_shipped_module_directory_behind(tmp_path: Path) -> None:
    """Every run used to leave a kuberun-modules-* directory in the temporary directory."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    # A script whose task function travels with the config, as NeMo Run-style scripts do.
    (tmp_path / "make_doc.py").write_text(
        "import json, sys\nimport fiddle as fdl\nfrom kuberun.serialization import encode_config\n"
        "def answer():\n    return 42\n"
        "e = encode_config(fdl.Partial(answer), 't')\n"
        "print(json.dumps({'name': 't', 'fiddle': {'sha256': e.sha256, 'data': e.data}}))\n")
    made = subprocess.run([sys.executable, str(tmp_path / "make_doc.py")], capture_output=True, text=True, check=True)
    doc = json.loads(made.stdout)
    (tmp_path / "task.json").write_text(json.dumps(doc))
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    run = subprocess.run([sys.executable, "-m", "kuberun.runner", "--config", str(tmp_path / "task.json")],
                         capture_output=True, text=True, env=env, timeout=60, cwd=tmpdir)
    assert run.returncode == 0, run.stderr
    assert "task returned 42" in run.stderr
    assert not list(tmpdir.glob("kuberun-modules-*"))


@pytest.mark.parametrize("name", ["../../evil", "a/b", "os.path", "class", ""], ids=["traversal", "slash", "dotted",
                                                                                    "keyword", "empty"])
def test_a_crafted_shipped_module_name_is_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    from kuberun.errors import ConfigIntegrityError
    from kuberun.serialization import load_modules

    into = tmp_path / "mods"
    with pytest.raises(ConfigIntegrityError, match="not a Python identifier"):
        load_modules({name: "print('pwned')"}, into)
    assert not into.exists() and not list(tmp_path.rglob("*.py"))


def test_a_signal_before_the_script_has_started_is_held_and_sent_once_it_has() -> None:
    """The runner listens before it starts the script: a SIGTERM in between reaches the script
    (it used to kill the runner with the default action, -15, under load)."""
    from kuberun.signals import Relay

    relay = Relay()
    relay(signal.SIGTERM, None)  # arrives while the script is being started
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        relay.attach(proc)
        assert proc.wait(timeout=30) == -signal.SIGTERM and relay.pending == []
    finally:
        proc.kill()
