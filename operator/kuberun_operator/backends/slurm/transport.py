"""How the Slurm bridge reaches a cluster: one multiplexed SSH connection, or a local shell.

``SshTransport`` keeps ONE asyncssh connection per cluster; every command is a channel on it
(sshd's MaxSessions bounds how many run at once). A broken connection is dropped and the next
command reconnects. Host keys are always verified: against the configured ``known_hosts`` file,
or asyncssh's default (``~/.ssh/known_hosts``) — never ``known_hosts=None``, which would disable it.

``LocalTransport`` is for an operator running on the login node itself.

Every failure to *reach* the cluster becomes ``BackendError("BackendUnavailable", ...,
permanent=False)``: the controller then posts a Warning Event and retries, and keeps serving other
experiments meanwhile. asyncssh is imported where it is used (it costs ~0.2 s to import).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from kuberun.aiowait import wait_for
from kuberun_operator.backend_config import SlurmCluster
from kuberun_operator.backends.base import BackendError

UNAVAILABLE = "BackendUnavailable"
CONNECT_TIMEOUT = 10.0
MAX_CONNECT_PAUSE = 30.0


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


class Transport(Protocol):
    commands: int  # remote commands run so far (each is one SSH round trip's worth of work)

    async def run(self, command: str, stdin: bytes | None = None, timeout: float = 60.0) -> CommandResult: ...

    def stream(self, command: str) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


def make_transport(cluster: SlurmCluster) -> Transport:
    return LocalTransport(cluster) if cluster.transport == "local" else SshTransport(cluster)


class SshTransport:
    def __init__(self, cluster: SlurmCluster) -> None:
        if not cluster.host:
            raise BackendError("InvalidBackendConfig", f"Slurm cluster {cluster.name!r}: ssh transport needs a host",
                               permanent=True)
        self.cluster = cluster
        self.commands = 0
        self._conn: Any = None
        self._lock = asyncio.Lock()
        # After a failed connect, fail fast until this time (doubling pause): every experiment on
        # an unreachable cluster is reconciled every poll interval, and each would dial again.
        self._failed: BackendError | None = None
        self._retry_at = 0.0
        self._pause = 0.0

    @property
    def where(self) -> str:
        c = self.cluster
        return f"Slurm cluster {c.name!r} ({c.user + '@' if c.user else ''}{c.host}:{c.port})"

    def _options(self) -> dict[str, Any]:
        c = self.cluster
        options: dict[str, Any] = {"host": c.host, "port": c.port, "connect_timeout": CONNECT_TIMEOUT,
                                   "keepalive_interval": 30, "keepalive_count_max": 3}
        if c.user:
            options["username"] = c.user
        if c.ssh_key_file:
            options["client_keys"] = [str(c.ssh_key_file)]
            options["agent_path"] = None  # the mounted key only; an operator pod has no agent anyway
        if c.known_hosts_file:
            options["known_hosts"] = str(c.known_hosts_file)
        return options

    async def _connection(self) -> Any:
        async with self._lock:
            if self._conn is not None:
                return self._conn
            loop = asyncio.get_running_loop()
            if self._failed is not None and loop.time() < self._retry_at:
                raise BackendError(self._failed.reason, self._failed.message, permanent=False)
            try:
                self._conn = await self._connect()
            except BackendError as exc:
                self._pause = min(max(self._pause * 2, 1.0), MAX_CONNECT_PAUSE)
                self._failed, self._retry_at = exc, loop.time() + self._pause
                raise
            self._failed, self._pause = None, 0.0
            return self._conn

    async def _connect(self) -> Any:
        import asyncssh

        try:
            return await asyncssh.connect(**self._options())
        except asyncssh.HostKeyNotVerifiable as exc:
            raise BackendError(UNAVAILABLE, f"{self.where}: host key not verified against known_hosts: {exc}",
                               permanent=False) from exc
        except asyncssh.PermissionDenied as exc:
            raise BackendError(UNAVAILABLE, f"{self.where}: SSH authentication failed: {exc}", permanent=False) from exc
        except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
            raise BackendError(UNAVAILABLE, f"{self.where}: cannot connect: {exc or type(exc).__name__}",
                               permanent=False) from exc

    def _drop(self, conn: Any) -> None:
        """Forget a broken connection so that the next command reconnects."""
        if self._conn is conn and conn is not None:
            self._conn = None
            conn.close()

    async def run(self, command: str, stdin: bytes | None = None, timeout: float = 60.0) -> CommandResult:
        import asyncssh

        for retry in (True, False):  # a connection that died while idle gets one fresh try
            conn = await self._connection()
            self.commands += 1
            try:
                done = await wait_for(conn.run(command, input=stdin, encoding=None), timeout)
            except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError) as exc:
                self._drop(conn)
                if retry:
                    continue
                raise BackendError(UNAVAILABLE, f"{self.where}: connection lost: {exc}", permanent=False) from exc
            except asyncio.TimeoutError as exc:
                self._drop(conn)  # a hung channel may mean a hung connection
                raise BackendError(UNAVAILABLE, f"{self.where}: no answer within {timeout:.0f}s", permanent=False) from exc
            return CommandResult(done.exit_status if done.exit_status is not None else 255,
                                 _text(done.stdout), _text(done.stderr))
        raise AssertionError("unreachable")

    async def stream(self, command: str) -> AsyncIterator[bytes]:
        import asyncssh

        conn = await self._connection()
        self.commands += 1
        try:
            async with conn.create_process(command, encoding=None) as process:
                process.stdin.write_eof()
                while chunk := await process.stdout.read(65536):
                    yield chunk
        except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError) as exc:
            self._drop(conn)
            raise BackendError(UNAVAILABLE, f"{self.where}: connection lost: {exc}", permanent=False) from exc

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await conn.wait_closed()


class LocalTransport:
    """Commands run by ``/bin/sh`` on this machine: the operator lives on the login node."""

    def __init__(self, cluster: SlurmCluster) -> None:
        self.cluster = cluster
        self.commands = 0

    async def run(self, command: str, stdin: bytes | None = None, timeout: float = 60.0) -> CommandResult:
        self.commands += 1
        proc = await asyncio.create_subprocess_exec("/bin/sh", "-c", command, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await wait_for(proc.communicate(stdin or b""), timeout)
        except asyncio.TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise BackendError(UNAVAILABLE, f"Slurm cluster {self.cluster.name!r}: no answer within {timeout:.0f}s",
                               permanent=False) from exc
        return CommandResult(proc.returncode or 0, _text(out), _text(err))

    async def stream(self, command: str) -> AsyncIterator[bytes]:
        self.commands += 1
        proc = await asyncio.create_subprocess_exec("/bin/sh", "-c", command, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        try:
            while chunk := await proc.stdout.read(65536):
                yield chunk
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def close(self) -> None:
        return None


def _text(data: Any) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray) else str(data)
