"""A two-node variant of the Slurm harness, for heterogeneous jobs only.

Why a second node: Slurm starts het jobs only from the backfill scheduler, and on one node it
plans component 1 after component 0's planned end, so a het job never starts there (docs/slurm.md,
"Heterogeneous jobs"). A second ``slurmd -N <host>2`` in the same network namespace, reached at
127.0.0.2 on a port of its own, gives each component a node. Both nodes are this machine; each
gets ``CPUs=2`` (``CPUS_PER_NODE``), so a job can run two ranks per node (Slurm 22.05 refuses
``--ntasks-per-node`` above a node's CPUs even with ``--overcommit``; tests/slurm/test_code_package_nodes.py
needs two), which counts the machine's cores twice — only the scheduler sees it. ``%n`` in the spool,
pid and log paths keeps the two slurmds apart. ``bf_interval=1`` makes backfill run every second instead of 30.

Only the het and per-node tests use it (the ``two_node_cluster`` fixture): every other Slurm test
keeps the one-node cluster it was written for.
"""

from __future__ import annotations

import re

from .configs import GRES_COUNT, GRES_NAME, SlurmSettings, render_gres_conf
from .harness import SlurmCluster, _free_port

CPUS_PER_NODE = 2


class TwoNodeCluster(SlurmCluster):
    """``SlurmCluster`` with a second node, ``nodes[1]``, on 127.0.0.2."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._second_port = 0
        self._settings_cache: SlurmSettings | None = None

    @property
    def nodes(self) -> tuple[str, str]:
        first = self._settings().hostname
        return first, f"{first}2"

    def _settings(self) -> SlurmSettings:
        if self._settings_cache is None:  # ports are chosen once: slurm.conf and gres.conf must agree
            self._settings_cache = super()._settings()
        return self._settings_cache

    def start(self) -> TwoNodeCluster:
        super().start()
        try:
            self._start_daemon("slurmd2", ["slurmd", "-D", "-N", self.nodes[1]])
            self._wait(lambda: self._node_states() == ["idle", "idle"], self._start_timeout_s,
                       f"both nodes to become idle (last: {self._node_states()})")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._is_running("slurmctld"):
            self.run(["scancel", f"--user={self.ssh_user}"], check=False)
        daemon = self._daemons.pop("slurmd2", None)
        if daemon is not None:
            daemon.stop()
        super().stop()

    def wait_for_node_state(self, state: str, timeout_s: float | None = None) -> None:
        """The first node only: the second slurmd starts after it (``start``)."""
        self._wait(lambda: self._node_states()[:1] == [state], timeout_s or self._start_timeout_s,
                   f"node to become {state} (last: {self._node_states()})")

    def _node_states(self) -> list[str]:
        out = self.run(["sinfo", "-h", "-N", "-p", self.partitions[0], "-o", "%t"], check=False)
        return out.stdout.split() if out.returncode == 0 else []  # one line per node: sorted by name

    def _write_files(self) -> None:
        super()._write_files()
        self._second_port = _free_port()
        conf = self.layout.conf
        conf.write_text(two_node_conf(conf.read_text(), self._settings(), self._second_port))
        for node in self.nodes:  # SlurmdSpoolDir=<spool>-%n: slurmd does not create it
            self.layout.spool.with_name(f"spool-{node}").mkdir(exist_ok=True)
        gres = render_gres_conf(self._settings())
        (conf.parent / "gres.conf").write_text(gres + f"NodeName={self.nodes[1]} Name={GRES_NAME} Count={GRES_COUNT}\n")


def two_node_conf(one_node: str, s: SlurmSettings, second_port: int) -> str:
    """The harness's slurm.conf with a second node ``<host>2`` at 127.0.0.2:``second_port``."""
    second = f"{s.hostname}2"
    lines = []
    for line in one_node.splitlines():
        if line.startswith(("SlurmdSpoolDir=", "SlurmdPidFile=", "SlurmdLogFile=")):
            key, _, path = line.partition("=")
            line = f"{key}={path}-%n" if key == "SlurmdSpoolDir" else re.sub(r"(\.\w+)$", r"-%n\1", line)
        elif line.startswith("SchedulerParameters="):
            line += ",bf_interval=1"
        elif line.startswith(f"NodeName={s.hostname} "):
            first = re.sub(r"CPUs=\d+", f"CPUs={CPUS_PER_NODE}", line)
            line = first + "\n" + first.replace(f"NodeName={s.hostname} NodeAddr=127.0.0.1",
                                                f"NodeName={second} NodeHostname={s.hostname} "
                                                f"NodeAddr=127.0.0.2 Port={second_port}")
        elif line.startswith("PartitionName="):
            line = line.replace(f"Nodes={s.hostname} ", f"Nodes={s.hostname},{second} ")
        lines.append(line)
    return "\n".join(lines) + "\n"
