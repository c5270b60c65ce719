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
        code = _stop(proc)
    assert code == 0


def _stop(proc: subprocess.Popen[str]) -> int:
    """SIGTERM, as the chart's pod gets it; its exit status (killed, and the test failed, if it hangs)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_an_unreadable_kubeconfig_is_one_line_and_exit_1(tmp_path):
    start = time.monotonic()
    done = subprocess.run([str(KUBERUN), "ui", "--kubeconfig", str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.startswith("error: no cluster configured") and len(done.stderr.splitlines()) == 1
    assert time.monotonic() - start < 60


def test_a_bad_port_is_refused():
    done = subprocess.run([str(KUBERUN), "ui", "--port", "70000"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--port must be between 0 and 65535" in done.stderr


def test_a_host_other_than_loopback_needs_in_cluster():
    done = subprocess.run([str(KUBERUN), "ui", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--host is for --in-cluster" in done.stderr


def test_in_cluster_mode_serves_every_host_on_one_port_asks_for_a_token_and_stops_on_sigterm(bare_sandbox):
    import urllib.error

    proc = subprocess.Popen([str(KUBERUN), "ui", "--in-cluster", "--host", "127.0.0.1", "--host", "127.0.0.2", "--port", "0",
                             "--kubeconfig", str(bare_sandbox.kubeconfig)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("kuberun ui (in-cluster): http://127.0.0.1:"), line + proc.stderr.read()
        port = int(line.split("http://127.0.0.1:", 1)[1].split(";", 1)[0])
        for host in ("127.0.0.1", "127.0.0.2"):
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=30) as resp:
                assert resp.read() == b"ok"
            try:
                urllib.request.urlopen(f"http://{host}:{port}/", timeout=30)
                raise AssertionError("the list answered without a token")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401 and 'id="login-form"' in exc.read().decode()
    finally:
        code = _stop(proc)
    assert code == 0


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
        internal = {m for m in imports if m.startswith("kuberun.") and not m.startswith("kuberun.ui")} - {"kuberun.errors", "kuberun.aiowait"}
        if path.name != "data.py":
            assert not internal, f"{path.name} imports SDK internals {sorted(internal)}: go through kuberun.ui.data"
