"""The sandbox node as a process of its own: ``python -m kuberun_sandbox.nodeproc``.

Why: a node inside the test's (or the sandbox's) interpreter can only be stopped politely; crash
safety is only shown by a node that is SIGKILLed mid-run and started again on the same data
directory. This runs one ``SandboxNode`` against an API server URL until SIGTERM/SIGINT (a clean
stop) or SIGKILL (a crash), and prints ``READY`` once its watches have listed, so a harness knows
when it runs (``tests/helpers/sandbox_node.py``). The token is read from a file, never taken from
the command line (argv is visible to every user of the machine).

    python -m kuberun_sandbox.nodeproc --server https://127.0.0.1:PORT --token-file T --ca-file CA \\
        --data-dir DIR [--gc-period SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import pathlib
import signal
import ssl
import sys

from kuberun.aiowait import wait_for

READY = "READY"
START_TIMEOUT = 60.0


class NodeChild:
    """The node process as ``Sandbox`` runs it (from its event loop): ``start``, ``stop``, ``kill``.

    The token and CA go to 0600 files in the data directory; the node's log goes to ``node.log`` there.
    """

    def __init__(self, server_url: str, token: str, ca_pem: str | None, data_dir: pathlib.Path,
                 gc_period: float = 30.0) -> None:
        self.server_url, self.data_dir, self.gc_period = server_url, pathlib.Path(data_dir), gc_period
        self.token_file = self.data_dir / "node.token"
        _write_private(self.token_file, token)
        self.ca_file = self.data_dir / "node-ca.pem" if ca_pem else None
        if self.ca_file is not None and ca_pem:
            _write_private(self.ca_file, ca_pem)
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the node; returns once it has listed (its recovery ran). Raises RuntimeError if it cannot."""
        await self.spawn()
        await self.ready(timeout)

    async def spawn(self) -> None:
        """Start the process (its interpreter starts while the caller does other work); then ``ready``."""
        argv = [sys.executable, "-m", "kuberun_sandbox.nodeproc", "--server", self.server_url, "--token-file",
                str(self.token_file), "--data-dir", str(self.data_dir), "--gc-period", str(self.gc_period)]
        if self.ca_file is not None:
            argv += ["--ca-file", str(self.ca_file)]
        with open(self.data_dir / "node.log", "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=log,
                                                             stdin=asyncio.subprocess.DEVNULL)

    async def ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for the spawned node's READY line (its watches have listed)."""
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await wait_for(self.proc.stdout.readline(), timeout)
        except asyncio.TimeoutError:
            line = b""
        if line.strip() != READY.encode():
            self.kill()
            await self.proc.wait()
            raise RuntimeError(f"the sandbox node did not start (see {self.data_dir / 'node.log'})")

    async def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the node kills its task processes and says so); SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.kill()
            await self.proc.wait()

    async def crash(self) -> None:
        """``kill`` and wait until the process is gone."""
        self.kill()
        if self.proc is not None:
            await self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: a crash. Task processes live on, for the next start to adopt."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()


def _write_private(file: pathlib.Path, text: str) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


async def _run(args: argparse.Namespace) -> None:
    from .node import SandboxNode

    token = pathlib.Path(args.token_file).read_text().strip() if args.token_file else None
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    node = SandboxNode(args.server, args.data_dir, token=token, ssl_context=context, gc_period=args.gc_period)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await node.start(wait_synced=60)
    print(READY, flush=True)
    try:
        await stop.wait()
    finally:
        await node.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the API server's URL")
    parser.add_argument("--token-file", help="a file holding the node's bearer token")
    parser.add_argument("--ca-file", help="the API server's CA certificate (PEM)")
    parser.add_argument("--data-dir", type=pathlib.Path, required=True, help="logs, pod directories and records")
    parser.add_argument("--gc-period", type=float, default=30.0, help="seconds between garbage collections")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
