"""Local processes standing in for containers, and their log files (served as ``pods/log``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import signal
from collections.abc import AsyncIterator, Callable

from .podspec import Launch

CHUNK = 64 * 1024


class PodProcess:
    """One container's process, in its own session so a kill reaches its whole process group."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.killed = False

    @classmethod
    async def spawn(cls, launch: Launch, log_path: pathlib.Path) -> PodProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log_file:  # the child keeps its own descriptor
            proc = await asyncio.create_subprocess_exec(
                *launch.argv, cwd=launch.cwd, env={**os.environ, **launch.env}, stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        return cls(proc)

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    async def wait(self) -> int:
        """The exit code as Kubernetes reports it: 128+N for death by signal N."""
        code = await self.proc.wait()
        return 128 - code if code < 0 else code

    async def kill(self, grace: float = 3.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds (the termination grace period)."""
        self.killed = True
        if not self.running:
            return
        self._signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), grace)
        except asyncio.TimeoutError:
            self._signal(signal.SIGKILL)
        # Children that outlived the leader still belong to the group.
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


def tail_offset(file_path: pathlib.Path, lines: int) -> int:
    """Byte offset where the last ``lines`` lines of the file start (reads backwards, in chunks)."""
    if lines <= 0:
        return file_path.stat().st_size
    with open(file_path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        pos, newlines = end, 0
        # A trailing newline ends the last line; it does not start a new one.
        if end:
            f.seek(end - 1)
            if f.read(1) == b"\n":
                newlines = -1
        while pos > 0:
            step = min(CHUNK, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step)
            for i in range(len(block) - 1, -1, -1):
                if block[i] == 0x0A:
                    newlines += 1
                    if newlines == lines:
                        return pos + i + 1
    return 0


async def stream_log(file_path: pathlib.Path, offset: int, follow: bool,
                     still_running: Callable[[], bool], poll: float = 0.2) -> AsyncIterator[bytes]:
    """Stream the file from ``offset`` in chunks; with ``follow``, keep reading while the process runs."""
    with open(file_path, "rb") as f:
        f.seek(offset)
        while True:
            chunk = f.read(CHUNK)
            if chunk:
                yield chunk
                continue
            if not follow or not still_running():
                # One last read: the process may have written just before it exited.
                rest = f.read()
                if rest:
                    yield rest
                return
            await asyncio.sleep(poll)

