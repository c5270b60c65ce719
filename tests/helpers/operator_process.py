"""The operator as a real subprocess, for what a thread cannot show: SIGKILL mid-run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def operator_process(kubeconfig: Path, log_file: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m kuberun_operator --kubeconfig ... ARGS``; killed (if still running) and reaped on exit."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    env.pop("POD_ID", None)
    with open(log_file, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kuberun_operator", "--kubeconfig", str(kubeconfig),
                                 "--metrics-port", "0", *args], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)
