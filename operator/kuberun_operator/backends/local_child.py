"""``python -m kuberun_operator.backends.local_child DIR -- COMMAND...``: a local attempt's own supervisor.

Why a wrapper: the operator may die at any moment, and a task that ends while it is down must
still be recorded with its real exit code. So the process the operator starts (in a session of
its own, which outlives the operator) runs the task as its child and writes the task's exit
status itself — ``DIR/exit``, atomically (write, fsync, rename) — before exiting with the same
code. A signal that ends the task is reported as Kubernetes does: 128 + N. SIGTERM/SIGINT sent
to this wrapper are forwarded to the task (``cancel`` signals the whole session anyway), and the
wrapper keeps waiting so the exit file is written.

Standard library only: it starts once per attempt and must start fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the whole new one, durably."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def exit_status(returncode: int) -> int:
    """``Popen.returncode`` as a shell/Kubernetes exit code: -N (killed by signal N) becomes 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m kuberun_operator.backends.local_child DIR -- COMMAND...", file=sys.stderr)
        return 2
    where, command = Path(argv[0]), argv[2:]
    write_atomic(where / "pid", str(os.getpid()))  # the operator writes it too; whoever is first, it is this pid
    child = subprocess.Popen(command)  # inherits stdout/stderr (the attempt's log) and the working directory

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            code = exit_status(child.wait())
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries wait() itself
            continue
    write_atomic(where / "exit", f"{code}\n{_now()}")
    return min(code, 255)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
