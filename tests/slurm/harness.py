"""A real single-node Slurm cluster, reachable over real SSH, for tests.

Starts munged, slurmctld, slurmd (Debian's slurm-wlm 22.05) and an sshd with
generated keys, all in one temp dir, and stops them again::

    with SlurmCluster() as cluster:
        cluster.run(["sbatch", "--parsable", "--wrap", "true"])
        # or, over SSH: asyncssh.connect(**cluster.asyncssh_options())

Design: Slurm 22.05 binds 0.0.0.0 and has no bind-address option, and nothing
here may listen on a non-loopback interface. So the harness runs only inside a
private network namespace that holds nothing but `lo` — the whole test process
is started under ``tests/slurm/netns-run`` (which also gives `lo` the second
address glibc needs, see that script). The harness checks this and refuses to
start otherwise (:func:`environment_problem`), rather than creating the
namespace itself: the test process must be inside it too, because the operator
under test runs in-process and must reach sshd and the daemons.

Every path, socket and port belongs to the instance, so several instances can
run side by side (in one namespace or in several).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from .configs import (
    SlurmLayout,
    SlurmSettings,
    render_authorized_key,
    render_gres_conf,
    render_known_hosts,
    render_slurm_conf,
    render_sshd_config,
)
from .daemons import Daemon, log_tails

REQUIRED_BINARIES = (
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "sinfo",
    "scancel",
    "sshd",
    "ssh-keygen",
)


# sinfo %t states in which the node accepts work; a trailing "*" (not
# responding) or "unk" means slurmd has not (re)registered yet.
SCHEDULABLE_STATES = frozenset({"idle", "mix", "alloc", "comp"})


class SlurmHarnessError(RuntimeError):
    """The cluster did not come up (or go down) as asked; the message carries daemon logs."""


def environment_problem() -> str | None:
    """Why the harness cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "real-Slurm tests need root (slurmd runs jobs as root here)"
    missing = [b for b in REQUIRED_BINARIES if shutil.which(b, path=_sbin_path()) is None]
    if missing:
        return f"missing {', '.join(missing)}: run .ci/install-slurm.sh"
    interfaces = [name for _, name in socket.if_nameindex()]
    if interfaces != ["lo"]:
        return (
            f"not in a loopback-only network namespace (interfaces: {', '.join(interfaces)}); "
            "Slurm binds every interface, so run under tests/slurm/netns-run"
        )
    try:
        # What Slurm asks glibc; with 127.0.0.1 as the only IPv4 address it
        # answers "not known" and slurmctld dies after ~10 s of retries.
        socket.getaddrinfo("127.0.0.1", "6817", socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
    except socket.gaierror:
        return (
            "IPv4 loopback does not resolve with AI_ADDRCONFIG: lo is down or lacks 127.0.0.2 (use netns-run)"
        )
    return None


class SlurmCluster:
    """One munged + slurmctld + slurmd + sshd, private to this instance.

    Local commands: ``cluster.run([...])`` or ``subprocess.run(..., env=cluster.env())``.
    Remote commands: SSH to ``ssh_host:ssh_port`` as ``ssh_user`` with
    ``client_key_path``, verifying the host against ``known_hosts_path``; the
    remote shell already has SLURM_CONF set.
    """

    ssh_host = "127.0.0.1"

    def __init__(
        self,
        partitions: Sequence[str] = ("debug", "batch"),
        message_timeout_s: int = 3,
        start_timeout_s: float = 30.0,
        keep_dir: bool = False,
    ) -> None:
        self.layout = SlurmLayout(Path(tempfile.mkdtemp(prefix="kuberun-slurm-")))
        self._partitions = tuple(partitions)
        self._message_timeout_s = message_timeout_s
        self._start_timeout_s = start_timeout_s
        self._keep_dir = keep_dir
        self.ssh_user = getpass.getuser()
        self.ssh_port = 0  # chosen in start(), inside the namespace
        self._daemons: dict[str, Daemon] = {}

    # -- public surface -------------------------------------------------

    @property
    def slurm_conf(self) -> Path:
        return self.layout.conf

    @property
    def workdir(self) -> Path:
        """A directory the remote side may use as the bridge's work dir."""
        return self.layout.workdir

    @property
    def client_key_path(self) -> Path:
        return self.layout.ssh / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.layout.ssh / "known_hosts"

    @property
    def partitions(self) -> tuple[str, ...]:
        """Partition names; the first is the default."""
        return self._partitions

    def env(self) -> dict[str, str]:
        """Environment for local Slurm clients (sbatch, squeue, ...)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        env["SLURM_CONF"] = str(self.slurm_conf)
        env["PATH"] = _sbin_path()
        return env

    def run(
        self, cmd: Sequence[str], check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a local Slurm client command against this cluster; text output."""
        return subprocess.run(
            list(cmd), env=self.env(), capture_output=True, text=True, check=check, timeout=timeout
        )

    def asyncssh_options(self) -> dict[str, object]:
        """Keyword arguments for ``asyncssh.connect`` (host keys verified)."""
        return {
            "host": self.ssh_host,
            "port": self.ssh_port,
            "username": self.ssh_user,
            "client_keys": [str(self.client_key_path)],
            "known_hosts": str(self.known_hosts_path),
            "agent_path": None,
        }

    def ssh_command(self, remote: str) -> list[str]:
        """An OpenSSH client command line running ``remote`` on the cluster."""
        return [
            "ssh", "-p", str(self.ssh_port), "-i", str(self.client_key_path),
            "-o", f"UserKnownHostsFile={self.known_hosts_path}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-F", "none",
            f"{self.ssh_user}@{self.ssh_host}", remote,
        ]  # fmt: skip

    def start(self) -> SlurmCluster:
        """Bring everything up; returns once the node is idle and sshd answers."""
        try:
            problem = environment_problem()
            if problem:
                raise SlurmHarnessError(problem)
            self._write_files()
            self._start_munged()
            self.start_controller()
            self._start_daemon("slurmd", ["slurmd", "-D"])
            self.wait_for_node_state("idle")
            self._start_sshd()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Cancel jobs, stop every daemon started here, and remove the temp dir."""
        if self._is_running("slurmctld"):
            # Job steps outlive slurmd, so ask Slurm to end them first.
            self.run(["scancel", f"--user={self.ssh_user}"], check=False)
            self._wait(lambda: not self._queue_ids(), timeout_s=5, what="jobs to end", strict=False)
        for name in ("sshd", "slurmd", "slurmctld", "munged"):
            daemon = self._daemons.pop(name, None)
            if daemon is not None:
                daemon.stop()
        if not self._keep_dir:
            shutil.rmtree(self.layout.base, ignore_errors=True)

    def stop_controller(self) -> None:
        """Stop slurmctld (graceful SIGTERM); clients then fail to reach it."""
        daemon = self._daemons.pop("slurmctld", None)
        if daemon is not None:
            daemon.stop()

    def start_controller(self) -> None:
        """(Re)start slurmctld from its saved state; returns once it answers
        and slurmd has registered again (so new jobs start at once)."""
        self._start_daemon("slurmctld", ["slurmctld", "-D"])
        self._wait(self._controller_answers, self._start_timeout_s, "slurmctld to answer")
        if self._is_running("slurmd"):
            self._wait(
                lambda: self._node_state() in SCHEDULABLE_STATES,
                self._start_timeout_s,
                "node to register after controller restart",
            )

    def wait_for_node_state(self, state: str, timeout_s: float | None = None) -> None:
        """Wait until `sinfo` reports the node in ``state`` (e.g. idle)."""
        self._wait(
            lambda: self._node_state() == state,
            timeout_s or self._start_timeout_s,
            f"node to become {state} (last: {self._node_state()!r})",
        )

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- setup ----------------------------------------------------------

    def _settings(self) -> SlurmSettings:
        return SlurmSettings(
            hostname=socket.gethostname().split(".")[0],
            cpus=os.cpu_count() or 1,
            real_memory_mb=_real_memory_mb(),
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
            partitions=self._partitions,
            message_timeout_s=self._message_timeout_s,
        )

    def _write_files(self) -> None:
        lay = self.layout
        self.ssh_port = _free_port()
        # munged warns unless its socket's directories are traversable by all.
        lay.base.chmod(0o755)
        for d in (
            lay.conf.parent,
            lay.munge_socket.parent,
            lay.state,
            lay.spool,
            lay.logs,
            lay.ssh,
            lay.workdir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        lay.conf.write_text(render_slurm_conf(lay, self._settings()))
        (lay.conf.parent / "gres.conf").write_text(render_gres_conf(self._settings()))
        _write_private(lay.munge_key, os.urandom(1024))
        host_pub = _keygen(lay.ssh / "ssh_host_ed25519_key", "kuberun-slurm-harness host")
        client_pub = _keygen(self.client_key_path, "kuberun-slurm-harness client")
        (lay.ssh / "authorized_keys").write_text(render_authorized_key(client_pub, lay.conf))
        self.known_hosts_path.write_text(render_known_hosts(self.ssh_port, host_pub))
        (lay.ssh / "sshd_config").write_text(render_sshd_config(lay, self.ssh_port, self.ssh_user))

    def _start_munged(self) -> None:
        lay = self.layout
        # Explicit paths keep every instance off the system-wide /run/munge
        # and /etc/munge. In the foreground munged logs to stderr, which
        # Daemon sends to log/munged.out.
        self._start_daemon("munged", [
            "munged", "--foreground", f"--socket={lay.munge_socket}",
            f"--key-file={lay.munge_key}", f"--pid-file={lay.base / 'munged.pid'}",
            f"--seed-file={lay.base / 'munged.seed'}",
        ])  # fmt: skip
        self._wait(lay.munge_socket.exists, 10, "munged socket")

    def _start_sshd(self) -> None:
        # sshd re-executes itself, so it needs an absolute path, and it
        # insists on its privilege-separation directory existing.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd = shutil.which("sshd", path=_sbin_path()) or "/usr/sbin/sshd"
        self._start_daemon("sshd", [sshd, "-D", "-e", "-f", str(self.layout.ssh / "sshd_config")])
        self._wait(self._sshd_answers, 10, "sshd banner")

    def _start_daemon(self, name: str, argv: Sequence[str]) -> None:
        daemon = Daemon(name, argv, env=self.env(), log_path=self.layout.logs / f"{name}.out")
        daemon.start()
        self._daemons[name] = daemon

    # -- probes ---------------------------------------------------------

    def _is_running(self, name: str) -> bool:
        daemon = self._daemons.get(name)
        return daemon is not None and daemon.running

    def _controller_answers(self) -> bool:
        return self.run(["squeue", "-h"], check=False).returncode == 0

    def _node_state(self) -> str:
        out = self.run(["sinfo", "-h", "-o", "%t"], check=False)
        return out.stdout.strip().split("\n")[0] if out.returncode == 0 else ""

    def _queue_ids(self) -> list[str]:
        out = self.run(["squeue", "-h", "-o", "%i"], check=False)
        return out.stdout.split() if out.returncode == 0 else []

    def _sshd_answers(self) -> bool:
        try:
            with socket.create_connection((self.ssh_host, self.ssh_port), timeout=1) as s:
                return s.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    def _wait(self, ready: Callable[[], bool], timeout_s: float, what: str, strict: bool = True) -> None:
        """Poll ``ready()`` until true; on timeout raise with every daemon's log tail."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, daemon in self._daemons.items():
                if not daemon.running and strict:
                    raise SlurmHarnessError(f"{name} exited while waiting for {what}\n{self._logs()}")
            if ready():
                return
            time.sleep(0.1)
        if strict:
            raise SlurmHarnessError(f"timed out after {timeout_s}s waiting for {what}\n{self._logs()}")

    def _logs(self) -> str:
        return log_tails(sorted(self.layout.logs.glob("*")))


def _sbin_path() -> str:
    # Debian puts the daemons in /usr/sbin, which a non-login PATH may lack.
    parts = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    extra = [p for p in ("/usr/local/sbin", "/usr/sbin", "/sbin") if p not in parts]
    return os.pathsep.join(parts + extra)


def _free_port() -> int:
    # Racy in principle (free only when asked), but in the private namespace
    # only the harness's own daemons bind ports.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _real_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            # Below MemTotal, or slurmd marks the node invalid.
            return max(1, int(line.split()[1]) // 1024 - 512)
    return 1024


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _keygen(path: Path, comment: str) -> str:
    """Create an ed25519 key pair (no passphrase); return the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return Path(f"{path}.pub").read_text()
