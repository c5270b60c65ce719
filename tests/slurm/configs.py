"""Pure renderers for the files the Slurm test harness writes.

Kept apart from process handling so that each setting sits next to the reason
it is there, and so the rendered text can be read (or unit-tested) without
starting anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SlurmLayout:
    """Where one harness instance keeps everything (all under one temp dir)."""

    base: Path

    @property
    def conf(self) -> Path:
        return self.base / "etc" / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.base / "munge" / "munge.socket.2"

    @property
    def munge_key(self) -> Path:
        return self.base / "munge" / "munge.key"

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def spool(self) -> Path:
        return self.base / "spool"

    @property
    def logs(self) -> Path:
        return self.base / "log"

    @property
    def jobcomp(self) -> Path:
        return self.base / "log" / "jobcomp.txt"

    @property
    def ssh(self) -> Path:
        return self.base / "ssh"

    @property
    def workdir(self) -> Path:
        return self.base / "work"


@dataclass(frozen=True)
class SlurmSettings:
    """The few knobs that differ between machines or runs."""

    hostname: str
    cpus: int
    real_memory_mb: int
    ctld_port: int
    slurmd_port: int
    partitions: Sequence[str] = ("debug", "batch")
    # Clients retry an unreachable controller for about this many seconds
    # (minus one) before failing, so it bounds how long "controller down"
    # tests wait; loopback RPCs take milliseconds, so 3 s is ample unless a
    # benchmark floods slurmctld (then pass more).
    message_timeout_s: int = 3
    kill_wait_s: int = 1


GRES_NAME, GRES_COUNT = "krtoken", 4    # a countable generic resource (no device files)
FEATURES = ("kuberun", "fastdisk")      # node features a --constraint can name


def render_gres_conf(s: SlurmSettings) -> str:
    """gres.conf beside slurm.conf: the node's generic resource, counted, with no device files."""
    return f"NodeName={s.hostname} Name={GRES_NAME} Count={GRES_COUNT}\n"


def render_slurm_conf(layout: SlurmLayout, s: SlurmSettings) -> str:
    """A minimal single-node slurm.conf that works without systemd or slurmdbd."""
    lines = [
        "ClusterName=kuberun-test",
        # Name must equal `hostname -s` or the daemons refuse to start; the
        # explicit address avoids depending on how the name resolves.
        f"SlurmctldHost={s.hostname}(127.0.0.1)",
        f"SlurmctldPort={s.ctld_port}",
        f"SlurmdPort={s.slurmd_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        # Our own munged socket, so that concurrent harnesses never share one.
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={layout.munge_socket}",
        f"StateSaveLocation={layout.state}",
        f"SlurmdSpoolDir={layout.spool}",
        f"SlurmctldPidFile={layout.base / 'slurmctld.pid'}",
        f"SlurmdPidFile={layout.base / 'slurmd.pid'}",
        f"SlurmctldLogFile={layout.logs / 'slurmctld.log'}",
        f"SlurmdLogFile={layout.logs / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        # No cgroups in a container: track processes by parentage instead.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "MpiDefault=none",
        "SwitchType=switch/none",
        # No slurmdbd: `sacct -c` reads finished jobs from this text file.
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={layout.jobcomp}",
        # A node that restarts comes back on its own instead of staying DOWN.
        "ReturnToService=2",
        # Trust the node line below even if the hardware probe disagrees.
        "SlurmdParameters=config_overrides",
        f"MessageTimeout={s.message_timeout_s}",
        # Fast cancels: SIGKILL follows SIGTERM after this many seconds.
        f"KillWait={s.kill_wait_s}",
        "InactiveLimit=0",
        # Finished jobs stay visible to squeue/scontrol for 5 minutes.
        "MinJobAge=300",
        "SchedulerType=sched/backfill",
        "SchedulerParameters=batch_sched_delay=0",
        # A generic resource and node features, so jobs asking for --gres/--constraint can run here.
        f"GresTypes={GRES_NAME}",
        f"NodeName={s.hostname} NodeAddr=127.0.0.1 CPUs={s.cpus} RealMemory={s.real_memory_mb} "
        f"Gres={GRES_NAME}:{GRES_COUNT} Features={','.join(FEATURES)} State=UNKNOWN",
    ]
    for i, name in enumerate(s.partitions):
        default = "YES" if i == 0 else "NO"
        lines.append(f"PartitionName={name} Nodes={s.hostname} Default={default} MaxTime=INFINITE State=UP")
    return "\n".join(lines) + "\n"


def render_sshd_config(layout: SlurmLayout, port: int, user: str) -> str:
    """sshd on one loopback port, public-key only, for exactly one user."""
    ssh = layout.ssh
    return (
        "\n".join(
            [
                f"ListenAddress 127.0.0.1:{port}",
                f"HostKey {ssh / 'ssh_host_ed25519_key'}",
                f"PidFile {ssh / 'sshd.pid'}",
                f"AuthorizedKeysFile {ssh / 'authorized_keys'}",
                f"AllowUsers {user}",
                "PermitRootLogin prohibit-password",
                "AuthenticationMethods publickey",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                # PAM would need a login stack configured for this ad-hoc daemon.
                "UsePAM no",
                # The key files live under a temp dir whose parents (/tmp) are
                # world-writable; StrictModes would reject them for that.
                "StrictModes no",
                # Lets the authorized_keys `environment=` option hand the remote
                # shell SLURM_CONF, and nothing else.
                "PermitUserEnvironment SLURM_CONF",
                # The bridge multiplexes many channels over one connection.
                "MaxSessions 200",
                "MaxStartups 100:30:200",
                "X11Forwarding no",
                "AllowTcpForwarding no",
                "PrintMotd no",
                "LogLevel VERBOSE",
                "Subsystem sftp internal-sftp",
            ]
        )
        + "\n"
    )


def render_authorized_key(public_key: str, slurm_conf: Path) -> str:
    """One authorized_keys line that points the remote shell at our slurm.conf."""
    return (
        f'environment="SLURM_CONF={slurm_conf}",no-port-forwarding,no-X11-forwarding {public_key.strip()}\n'
    )


def render_known_hosts(port: int, host_public_key: str) -> str:
    """known_hosts entry for a non-default port (OpenSSH `[host]:port` form)."""
    key_type, key_data = host_public_key.split()[:2]
    return f"[127.0.0.1]:{port} {key_type} {key_data}\n"
