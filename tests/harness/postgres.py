"""A real PostgreSQL server for the archive tests: initdb into a temporary directory, run, stop.

Debian's ``postgresql`` package (.ci/install-postgres.sh) provides the binaries; the packaged
cluster is never used. ``initdb`` and ``postgres`` refuse to run as root, so under root they run
as the ``postgres`` system user the package creates (``subprocess`` drops to it directly, no
``su`` in between); as any other user they run as that user. The server listens on 127.0.0.1 and
on a Unix socket in its own directory, nowhere else, so it also works inside the loopback-only
network namespace ``make test`` uses. Durability is off (``fsync``, ``synchronous_commit``,
``full_page_writes``): the data dies with the test session anyway.

Access: the superuser ``postgres`` over the Unix socket with ``trust`` (the socket's directory is
private to the server's user), and an application role with a password over TCP with
``scram-sha-256`` — the way the operator reaches a real database.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SERVER_USER = "postgres"      # the system user Debian's package creates
APP_ROLE = "kuberun"
APP_DATABASE = "kuberun"      # owned by APP_ROLE, created at start
START_DEADLINE_S = 60
_BINARIES = ("initdb", "postgres", "pg_ctl")


def find_bindir() -> Path | None:
    """``$POSTGRES_BINDIR``, else the newest /usr/lib/postgresql/<major>/bin with every binary."""
    candidates = [Path(os.environ["POSTGRES_BINDIR"])] if os.environ.get("POSTGRES_BINDIR") else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else -1, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in _BINARIES):
            return bindir
    return None


def environment_problem() -> str | None:
    """Why a real PostgreSQL cannot run here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[archive]')"
    if find_bindir() is None:
        return "PostgreSQL server binaries not found (run .ci/install-postgres.sh as root, or set POSTGRES_BINDIR)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root but there is no {SERVER_USER!r} user to run the server as (.ci/install-postgres.sh)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One throwaway server. Use as a context manager; ``database(name)`` gives URLs to databases."""

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise RuntimeError(environment_problem() or "no PostgreSQL binaries")
        self.bindir = found
        self.root = Path(tempfile.mkdtemp(prefix="kuberun-postgres-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log_path = self.root / "postgres.log"
        self.port = 0
        self.password = secrets.token_hex(16)
        self._proc: subprocess.Popen[bytes] | None = None
        self._user = pwd.getpwnam(SERVER_USER) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.sockets.mkdir()
        os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        os.chown(self.sockets, self._user.pw_uid, self._user.pw_gid)
        self._run([self.bindir / "initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"])
        for _ in range(3):   # a free port can be taken between probing and binding; try another
            self.port = free_port()
            self._spawn()
            if self._wait_ready():
                break
            if "could not bind" not in self.log_tail():
                raise RuntimeError(f"postgres did not start:\n{self.log_tail()}")
        else:
            raise RuntimeError(f"postgres found no free port:\n{self.log_tail()}")
        with self.admin() as conn:
            from psycopg import sql

            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(self.password)))
        self.create_database(APP_DATABASE)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``, waited; the process group is killed if that fails. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run([self.bindir / "pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w", "-t", "30"])
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        self._proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    # -- access -----------------------------------------------------------------------------------

    def admin(self) -> Any:
        """A psycopg connection as the superuser over the Unix socket (autocommit)."""
        return self.admin_in("postgres")

    def create_database(self, name: str) -> str:
        """A new database owned by the application role; its SQLAlchemy URL (TCP, password)."""
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_ROLE)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def create_schema(self, name: str) -> str:
        """A new schema owned by the application role in its database (``APP_ROLE``); a URL whose
        ``search_path`` is that schema. Far cheaper than a database per test, and just as empty."""
        from psycopg import sql

        with self.admin_in(APP_DATABASE) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sql.Identifier(name),
                                                                            sql.Identifier(APP_ROLE)))
        return self.url(APP_DATABASE) + f"?options=-csearch_path%3D{name}"

    def drop_schema(self, name: str) -> None:
        from psycopg import sql

        with self.admin_in(APP_DATABASE) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))

    def admin_in(self, database: str) -> Any:
        import psycopg

        return psycopg.connect(host=str(self.sockets), port=self.port, user="postgres", dbname=database,
                               autocommit=True, connect_timeout=5)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{APP_ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as e:
            return f"<no log: {e}>"

    # -- internals --------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {"PATH": f"{self.bindir}:{os.defpath}", "LC_ALL": "C", "LANG": "C", "TZ": "UTC", "HOME": str(self.root)}

    def _as_server_user(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _run(self, argv: Sequence[object]) -> None:
        done = subprocess.run([str(a) for a in argv], env=self._env(), cwd=self.root, capture_output=True,
                              timeout=120, check=False, **self._as_server_user())
        if done.returncode != 0:
            raise RuntimeError(f"{Path(str(argv[0])).name} failed ({done.returncode}):\n"
                               f"{done.stdout.decode(errors='replace')}{done.stderr.decode(errors='replace')}")

    def _spawn(self) -> None:
        argv = [self.bindir / "postgres", "-D", self.data, "-k", self.sockets, "-h", "127.0.0.1", "-p", self.port,
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=100", "-c", "logging_collector=off"]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen([str(a) for a in argv], env=self._env(), cwd=self.root,
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True, **self._as_server_user())

    def _wait_ready(self) -> bool:
        """True once the superuser can connect; False if the server exited (e.g. port taken)."""
        import psycopg

        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            with contextlib.suppress(psycopg.OperationalError):
                self.admin().close()
                return True
            time.sleep(0.1)
        raise RuntimeError(f"postgres did not accept connections within {START_DEADLINE_S}s:\n{self.log_tail()}")


def server_version(server: PostgresServer) -> str:
    with server.admin() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return re.split(r"\s", str(row[0]))[0] if row else "?"
