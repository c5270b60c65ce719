"""Foreground daemons in their own process groups, stopped reliably."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class Daemon:
    """One daemon run in the foreground, so the harness owns its lifetime.

    Each gets a new session (and so process group): stopping signals the whole
    group, which also reaches helpers it forked (sshd's per-connection
    children, slurmd's short-lived forks).
    """

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_s``; reap the leader."""
        proc = self._proc
        if proc is None:
            return
        self._signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
        # Also catches group members that outlived a leader which exited.
        self._signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)
        self._proc = None

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)


def log_tails(paths: Sequence[Path], lines: int = 30) -> str:
    """The last lines of each log, labelled, for error messages."""
    parts: list[str] = []
    for path in paths:
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError as e:
            tail = [f"<unreadable: {e}>"]
        parts.append(f"--- {path.name} (last {len(tail)} lines) ---\n" + "\n".join(tail))
    return "\n".join(parts)
