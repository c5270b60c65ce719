"""`kuberun ui` as a user starts it: through the kuberun CLI, on loopback, stopped by SIGTERM; and the layering rule."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KUBERUN = Path(sys.executable).parent / "kuberun"
UI = ROOT / "sdk" / "kuberun" / "ui"


def test_kuberun_ui_serves_on_loopback_and_stops_on_sigterm(bare_sandbox):
    proc = subprocess.Popen([str(KUBERUN), "ui", "--port", "0", "--kubeconfig", str(bare_sandbox.kubeconfig)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("kuberun ui: http://127.0.0.1:") and "?token=" in line, line + proc.stderr.read()
        url = line.split(": ", 1)[1].strip()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(url, timeout=30) as resp:  # token -> cookie -> the list page
            assert resp.status == 200 and "<h1>Experiments</h1>" in resp.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


def test_an_unreadable_kubeconfig_is_one_line_and_exit_1(tmp_path):
    start = time.monotonic()
    done = subprocess.run([str(KUBERUN), "ui", "--kubeconfig", str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.startswith("error: no cluster configured") and len(done.stderr.splitlines()) == 1
    assert time.monotonic() - start < 60


def test_a_bad_port_is_refused():
    done = subprocess.run([str(KUBERUN), "ui", "--port", "70000"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--port must be between 0 and 65535" in done.stderr


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_dashboard_reaches_sdk_internals_only_through_its_data_module():
    for path in sorted(UI.glob("*.py")):
        imports = _imports(path)
        assert not any(m.startswith(("kuberun_operator", "kuberun_sandbox")) for m in imports), path.name
        internal = {m for m in imports if m.startswith("kuberun.") and not m.startswith("kuberun.ui")} - {"kuberun.errors"}
        if path.name != "data.py":
            assert not internal, f"{path.name} imports SDK internals {sorted(internal)}: go through kuberun.ui.data"
