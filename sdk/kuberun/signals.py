"""How the task runner reports and receives signals, the way Kubernetes does.

Kubernetes (and every shell) reports a process killed by signal N as exit code 128+N — 137 for
SIGKILL (and the OOM killer), 139 for SIGSEGV, 143 for SIGTERM. Python's ``subprocess`` returns
``-N`` instead, and ``sys.exit(-N)`` turns that into ``256-N`` (245 for SIGSEGV), which no user and
no retry policy recognises; ``exit_code`` converts.

The runner is PID 1 of a task container. The kernel does not apply default signal actions to PID
1, so without handlers SIGTERM from the kubelet is ignored, ``terminationGracePeriodSeconds`` runs
out and the task is SIGKILLed with no chance to save anything. ``forwarding`` relays SIGTERM and
SIGINT to a script's process (its whole process group, where it made one); ``raise_on_terminate``
turns them into ``Terminated`` inside an in-process Fiddle task, so its ``finally`` blocks and
context managers run before the runner exits 128+N.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from types import FrameType

FORWARDED = (signal.SIGTERM, signal.SIGINT)


def exit_code(returncode: int) -> int:
    """A process status as Kubernetes reports it: 128+N for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


class Terminated(BaseException):  # a request to stop, like KeyboardInterrupt: not an Exception
    """The runner received SIGTERM or SIGINT while running an in-process task."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class Relay:
    """A SIGTERM/SIGINT handler that sends the signal on to the script once it is attached.

    The handler is installed *before* the script starts: a signal in between (the script already
    running, the runner not yet listening) used to kill the runner with the default action (-15)
    instead of reaching the script. One that arrives before ``attach`` is held and sent then.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | subprocess.Popen[str] | None = None
        self.pending: list[int] = []
        self.received: list[int] = []  # every signal relayed: a stop was asked (kuberun.restarts does not restart then)

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.process is None:
            self.pending.append(signum)
        else:
            self._send(signum)

    def attach(self, process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
        self.process = process
        held, self.pending = self.pending, []
        for signum in held:
            self._send(signum)

    def _send(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            if _leads_group(self.process.pid):
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)


@contextlib.contextmanager
def forwarding() -> Iterator[Relay]:
    """While in the block, SIGTERM/SIGINT received by this process go to the process given to
    ``relay.attach`` (held until then)."""
    relay = Relay()
    with _handlers(relay):
        yield relay


@contextlib.contextmanager
def raise_on_terminate() -> Iterator[None]:
    """While in the block, SIGTERM/SIGINT raise ``Terminated`` in the main thread."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise Terminated(signum)

    with _handlers(stop):
        yield


@contextlib.contextmanager
def _handlers(handler: signal.Handlers | object) -> Iterator[None]:
    previous = {sig: signal.signal(sig, handler) for sig in FORWARDED}  # type: ignore[arg-type]
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False
