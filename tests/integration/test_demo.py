"""The README's main job: examples/hello.py in the embedded sandbox, real processes, to Succeeded."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_hello_example_runs_to_succeeded_in_the_sandbox(tmp_path):
    done = subprocess.run([sys.executable, "examples/hello.py", "--sandbox", "--data-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "9592 primes below 100000" in done.stdout  # the primes task really ran
    assert "pi ~= 3.1" in done.stdout
    assert "report: pi and primes finished for hello-" in done.stdout  # ran after both, with its env
    assert done.stdout.rstrip().endswith("Succeeded")
    assert (tmp_path / "kubeconfig").exists()
    # Piped (as `make demo | tee` is), progress is one plain line per change, never a glued live frame
    # (issue 16 item 11: `━━━TASK  PHASE`, `CompletionsReachedTasks:`, `└──┘--- pi`).
    for text in (done.stdout, done.stderr):
        assert not re.search("[\u2500-\u259f]", text) and "\x1b[" not in text
        assert all(line == line.rstrip() for line in text.splitlines())
    progress = [line for line in done.stderr.splitlines() if line.startswith(("experiment ", "task "))]
    assert progress[-1].startswith("experiment hello-") and progress[-1].endswith(" Succeeded 3/3 tasks")
    assert sorted(re.findall(r"^--- (\w+) \(\S+\) ---$", done.stdout, re.MULTILINE)) == ["pi", "primes", "report"]
