"""Local processes standing in for containers, and their log files (served as ``pods/log``).

Each container runs under a small ``/bin/sh`` wrapper (``WRAPPER``), the leader of its own session,
so that the node can die and come back without losing the container:

- it writes ``started`` into the pod's state directory (``podstate.py``) before the command runs, and
  the command's exit status into ``exit`` when it ends (``$?``: 128+N for death by signal N), so a
  status that ends while the node is down is not lost;
- it traps SIGTERM/SIGINT/SIGHUP/SIGQUIT only to outlive them: a killpg reaches the command (whose
  dispositions are the default again), and the shell waits for it, as a container runtime waits for
  the container, instead of dying first and cutting the grace period short;
- it joins the pod's memory cgroup (or sets ``ulimit -v``) before the command (``memlimit.py``).

A wrapper costs one ``sh`` start (about a millisecond); a Python wrapper would cost an interpreter.
Every process, spawned or adopted after a restart, is awaited with a pidfd on the event loop
(asyncio's subprocesses cost a waiting thread each on Python 3.11: 64 pods, 64 threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Callable

from kuberun.aiowait import wait_for

from .podspec import Launch
from .podstate import PodState, proc_start_time

KILL_GRACE_MAX = 5.0  # cap on terminationGracePeriodSeconds: a sandbox should stop promptly

CHUNK = 64 * 1024
SHELL = "/bin/sh"
# $1 state dir, $2 cgroup.procs file or -, $3 ulimit -v KiB or -, then the command. The shell's own
# messages (dash reports a child killed by a signal) go to /dev/null; the command keeps stderr (fd 3).
WRAPPER = """d=$1 cg=$2 lim=$3; shift 3
trap 'kr_sig=1' HUP INT QUIT TERM
exec 3>&2 2>/dev/null
if [ "$cg" != - ]; then echo $$ > "$cg" || { echo "sandbox: cannot join the pod's memory cgroup" >&3; exit 125; }; fi
if [ "$lim" != - ]; then ulimit -v "$lim" || { echo "sandbox: cannot set the pod's memory limit" >&3; exit 125; }; fi
: > "$d/started"
"$@" 2>&3 3>&-
c=$?
echo "$c" > "$d/exit"
exit "$c"
"""


def resolve(argv0: str, env: dict[str, str], cwd: pathlib.Path) -> str:
    """Raise ``FileNotFoundError``/``PermissionError`` as exec would, before the wrapper is spawned
    (its ``sh`` would only print "not found" and exit 127, with no start error to report)."""
    if "/" in argv0:
        target = pathlib.Path(argv0) if os.path.isabs(argv0) else cwd / argv0
        if not target.exists():
            raise FileNotFoundError(2, "No such file or directory", argv0)
        if not os.access(target, os.X_OK) or target.is_dir():
            raise PermissionError(13, "Permission denied", argv0)
        return argv0
    found = shutil.which(argv0, path=env.get("PATH", os.environ.get("PATH", os.defpath)))
    if found is None:
        raise FileNotFoundError(2, f"executable file not found in $PATH: {argv0!r}", argv0)
    return argv0


class PodProcess:
    """One container's process (its wrapper), in its own session so a kill reaches its whole group."""

    def __init__(self, pid: int, state: PodState, proc: subprocess.Popen[bytes] | None = None) -> None:
        self.pid, self.state, self.proc = pid, state, proc
        self.start = proc_start_time(pid)
        self.killed = False
        self._ended = False

    @classmethod
    async def spawn(cls, launch: Launch, log_path: pathlib.Path, state: PodState, cgroup_procs: str = "-",
                    rlimit_kib: str = "-") -> PodProcess:
        env = {**os.environ, **launch.env}
        resolve(launch.argv[0], env, launch.cwd)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log_file:  # the child keeps its own descriptor
            proc = subprocess.Popen(  # a vfork/exec: returns in about a millisecond
                [SHELL, "-c", WRAPPER, "kuberun-pod", str(state.dir), cgroup_procs, rlimit_kib, *launch.argv],
                cwd=launch.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True)
        state.write_proc(proc.pid)
        return cls(proc.pid, state, proc)

    @classmethod
    def adopt(cls, pid: int, state: PodState) -> PodProcess:
        """A live wrapper a previous run of the node spawned (``PodState.alive_pid`` identified it)."""
        return cls(pid, state)

    @property
    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return not self._ended and self.start is not None and proc_start_time(self.pid) == self.start

    async def wait(self) -> int | None:
        """The exit code as Kubernetes reports it (128+N for death by signal N); None when it ended
        without a record (the wrapper itself was SIGKILLed while no node was its parent)."""
        if self.proc is not None:
            await self._wait_pidfd()
            code = self.proc.wait()  # it has ended: this reaps it at once
            recorded = self.state.exit_code()
            self._ended = True
            if recorded is not None:
                return recorded
            return 128 - code if code < 0 else code
        await self._wait_pidfd()
        self._ended = True
        return self.state.exit_code()

    async def _wait_pidfd(self) -> None:
        """Until the process has ended (a child: until it is a zombie, reaped by the caller)."""
        if not self._alive():
            return
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return
        except OSError:  # no pidfd (old kernel): look every 0.1 s
            while self._alive():
                await asyncio.sleep(0.1)
            return
        ended = loop.create_future()
        loop.add_reader(fd, lambda: ended.done() or ended.set_result(None))
        try:
            if self._alive():  # the identity check again: the pid may have been reused before pidfd_open
                await ended
        finally:
            loop.remove_reader(fd)
            os.close(fd)

    async def kill(self, grace: float = 3.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds (the termination grace period)."""
        self.killed = True
        if not self.running:
            return
        self._signal(signal.SIGTERM)
        try:
            await wait_for(asyncio.shield(self._exited()), grace)
        except asyncio.TimeoutError:
            self._signal(signal.SIGKILL)
        # Children that outlived the leader still belong to the group.
        self._signal(signal.SIGKILL, check=False)

    def _alive(self) -> bool:
        """Still running (a child that ended but is not reaped yet counts as ended, and is not reaped here)."""
        if self.proc is not None:
            if self.proc.returncode is not None:
                return False
            return proc_start_time(self.pid) is not None  # None for a zombie
        return self.running

    async def _exited(self) -> None:
        await self._wait_pidfd()

    def _signal(self, sig: signal.Signals, check: bool = True) -> None:
        if check and self.proc is None and not self.running:
            return  # an adopted pid that is no longer ours: never signal a stranger
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


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

