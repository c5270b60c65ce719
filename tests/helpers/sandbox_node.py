"""Run the sandbox node as its own process, to SIGKILL and restart it (``kuberun_sandbox.nodeproc``).

For the node's crash tests (tests/integration/test_sandbox_node_restart.py) and the chaos suite::

    with NodeProcess(server.url, token, server.auth.ca_pem, tmp_path / "node") as node:
        ...
        node.kill()      # SIGKILL: a crash, its task processes live on
        node.start()     # the same data directory: the node adopts them
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from types import TracebackType

from kuberun_sandbox.nodeproc import READY

START_TIMEOUT = 60.0


class NodeProcess:
    """One node process at a time on ``data_dir``; ``kill`` crashes it, ``stop`` stops it cleanly."""

    def __init__(self, server_url: str, token: str, ca_pem: str | None, data_dir: pathlib.Path,
                 gc_period: float = 30.0) -> None:
        self.server_url, self.data_dir, self.gc_period = server_url, pathlib.Path(data_dir), gc_period
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._secrets = self.data_dir.parent / f"{self.data_dir.name}-secrets"
        self._secrets.mkdir(mode=0o700, exist_ok=True)
        self.token_file = self._secrets / "token"
        self.token_file.write_text(token)
        self.token_file.chmod(0o600)
        self.ca_file: pathlib.Path | None = None
        if ca_pem:
            self.ca_file = self._secrets / "ca.pem"
            self.ca_file.write_text(ca_pem)
        self.proc: subprocess.Popen[str] | None = None
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.starts = 0

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> NodeProcess:
        """Start the node and return once it has listed (its recovery has run)."""
        assert self.proc is None or self.proc.poll() is not None, "the node is already running"
        argv = [sys.executable, "-m", "kuberun_sandbox.nodeproc", "--server", self.server_url,
                "--token-file", str(self.token_file), "--data-dir", str(self.data_dir),
                "--gc-period", str(self.gc_period)]
        if self.ca_file is not None:
            argv += ["--ca-file", str(self.ca_file)]
        log = open(self.log, "a")  # noqa: SIM115 - the child keeps the descriptor; closed below
        try:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
        finally:
            log.close()
        self.starts += 1
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:  # drained until the process ends
                if line.strip() == READY:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the sandbox node did not start; its log:\n{self.log.read_text()[-3000:]}")
        return self

    def kill(self) -> None:
        """SIGKILL the node (a crash): its pods' processes keep running."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node cleanly (SIGTERM); SIGKILL if it does not stop within ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self) -> NodeProcess:
        self.kill()
        return self.start()
