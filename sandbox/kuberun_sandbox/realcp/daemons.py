"""Child processes of the control plane: started in their own session, logged to a file, always reaped.

Each daemon is one ``subprocess.Popen`` in a new session, so ``stop()`` can signal its whole group
(SIGTERM, then SIGKILL after a grace period) and ``wait()`` for it: nothing outlives the fixture.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence


class DaemonExited(RuntimeError):
    """A daemon died while we waited for it; the message carries the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Daemon:
    def __init__(self, name: str, argv: Sequence[str], log_path: pathlib.Path) -> None:
        self.name, self.argv, self.log_path = name, list(argv), log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            # argv is a list (never a shell string): flags carry paths from the caller verbatim.
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise DaemonExited(f"{self.name} exited with code {self.proc.returncode}; last lines of "
                               f"{self.log_path}:\n{self.tail()}")

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        self._signal(signal.SIGKILL)  # anything the leader left behind in its group

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)


def wait_until(ready: Callable[[], bool], timeout: float, what: str, daemons: Sequence[Daemon]) -> float:
    """Poll ``ready`` until true (returns the seconds it took); fail early if a daemon dies."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        for daemon in daemons:
            daemon.check()
        if ready():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {d.name}:\n{d.tail()}" for d in daemons)
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s\n{tails}")
        time.sleep(0.1)
