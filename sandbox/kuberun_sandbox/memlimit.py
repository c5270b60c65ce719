"""Container memory limits for pod processes, enforced as far as this machine lets the node.

Why: a task that needs 300 MB ran under ``memory: 100Mi`` here and was OOMKilled on a cluster.
The kubelet enforces ``resources.limits.memory`` with a memory cgroup, and the kernel's OOM killer
ends the container with SIGKILL (exit 137, reason ``OOMKilled``). The node does the same when it can:

- **cgroup v2** with the ``memory`` controller delegated to the node's own cgroup: a child cgroup per
  pod with ``memory.max`` (and ``memory.swap.max`` 0); an OOM kill shows in ``memory.events``;
- **cgroup v1** memory hierarchy the node may write: ``memory.limit_in_bytes`` (and ``memsw``); an OOM
  kill shows in ``memory.oom_control`` (``oom_kill``) or ``memory.failcnt``;
- otherwise **RLIMIT_AS** (``ulimit -v`` in the wrapper): allocations beyond the limit fail, so the
  limit holds, but the process sees ENOMEM (Python: ``MemoryError``) instead of being killed; it
  exits as the task decides, and the node cannot honestly report ``OOMKilled``.

The wrapper shell (``process.py``) joins the pod's cgroup before it starts the command, so the
command is limited from its first instruction. ``Limiter.probe`` picks the mechanism once per node.
"""

from __future__ import annotations

import logging
import os
import pathlib
import uuid
from typing import Any

log = logging.getLogger("kuberun_sandbox.node")

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")


def _limit_value(pod: dict[str, Any]) -> Any:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return ((containers[0].get("resources") or {}).get("limits") or {}).get("memory")


def has_memory_limit(pod: dict[str, Any]) -> bool:
    return _limit_value(pod) is not None


def memory_limit(pod: dict[str, Any]) -> int | None:
    """The first container's ``resources.limits.memory`` in bytes (None: no limit)."""
    value = _limit_value(pod)
    if value is None:
        return None
    from kubernetes.utils.quantity import parse_quantity  # lazily: only pods with a limit pay for it

    return int(parse_quantity(value))


class PodCgroup:
    """One pod's memory cgroup: ``procs`` is the file the wrapper writes its pid to."""

    def __init__(self, directory: pathlib.Path, version: int) -> None:
        self.dir, self.version = directory, version

    @property
    def procs(self) -> pathlib.Path:
        return self.dir / "cgroup.procs"

    def oom_killed(self) -> bool:
        try:
            if self.version == 2:
                events = dict(line.split() for line in (self.dir / "memory.events").read_text().splitlines())
                return int(events.get("oom_kill", 0)) > 0
            control = dict(line.split() for line in (self.dir / "memory.oom_control").read_text().splitlines())
            if "oom_kill" in control:
                return int(control["oom_kill"]) > 0
            return int((self.dir / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (a cgroup with members cannot go)."""
        try:
            self.dir.rmdir()
        except OSError as e:
            log.debug("cgroup %s not removed: %s", self.dir, e)


class Limiter:
    """How this node limits memory: ``mode`` is ``cgroup2``, ``cgroup1`` or ``rlimit``."""

    def __init__(self, mode: str, parent: pathlib.Path | None) -> None:
        self.mode, self.parent = mode, parent

    @classmethod
    def probe(cls, owner: str) -> Limiter:
        """The best mechanism that works here, checked by creating (and removing) a cgroup.

        ``owner`` names this node's parent cgroup (one per node data directory: several sandboxes
        on one machine must not sweep each other's cgroups)."""
        for version, parent in ((2, _v2_parent()), (1, _v1_parent())):
            if parent is None:
                continue
            base = parent / f"kuberun-{owner}"
            try:
                base.mkdir(exist_ok=True)
                if version == 2:
                    (parent / "cgroup.subtree_control").write_text("+memory")
                probe = base / f"probe-{uuid.uuid4().hex[:8]}"
                probe.mkdir()
                probe.rmdir()
            except OSError as e:
                log.debug("cgroup v%d at %s not usable: %s", version, parent, e)
                continue
            return cls(f"cgroup{version}", base)
        return cls("rlimit", None)

    def create(self, uid: str, limit: int) -> PodCgroup | None:
        """A cgroup for pod ``uid`` limited to ``limit`` bytes (None in rlimit mode, or on failure)."""
        if self.parent is None:
            return None
        directory = self.parent / uid
        version = 2 if self.mode == "cgroup2" else 1
        try:
            directory.mkdir(exist_ok=True)
            if version == 2:
                (directory / "memory.max").write_text(str(limit))
                _write_optional(directory / "memory.swap.max", "0")
            else:
                (directory / "memory.limit_in_bytes").write_text(str(limit))
                _write_optional(directory / "memory.memsw.limit_in_bytes", str(limit))
        except OSError as e:
            log.warning("cannot limit memory of pod %s with a cgroup (%s): using RLIMIT_AS", uid, e)
            return None
        return PodCgroup(directory, version)

    def existing(self, uid: str) -> PodCgroup | None:
        """The cgroup of an adopted pod, if it has one."""
        if self.parent is None or not (self.parent / uid).is_dir():
            return None
        return PodCgroup(self.parent / uid, 2 if self.mode == "cgroup2" else 1)

    def close(self) -> None:
        """Remove the node's parent cgroup if no pod cgroup is left in it."""
        if self.parent is not None:
            PodCgroup(self.parent, 0).remove()

    def sweep(self, keep: set[str]) -> None:
        """Remove empty cgroups of pods not in ``keep`` (garbage collection)."""
        if self.parent is None or not self.parent.is_dir():
            return
        for entry in os.scandir(self.parent):
            if entry.is_dir() and entry.name not in keep:
                PodCgroup(pathlib.Path(entry.path), 0).remove()


def rlimit_kib(limit: int) -> int:
    """``ulimit -v`` takes KiB."""
    return max(1, limit // 1024)


def _v2_parent() -> pathlib.Path | None:
    try:
        line = next(x for x in pathlib.Path("/proc/self/cgroup").read_text().splitlines() if x.startswith("0::"))
    except (OSError, StopIteration):
        return None
    own = CGROUP_ROOT / line[3:].lstrip("/")
    candidates = [own, CGROUP_ROOT / "unified" / line[3:].lstrip("/")]
    for directory in candidates:
        controllers = directory / "cgroup.controllers"
        if controllers.exists() and "memory" in controllers.read_text().split():
            return directory
    return None


def _v1_parent() -> pathlib.Path | None:
    try:
        lines = pathlib.Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, where = line.split(":", 2)
        if "memory" in controllers.split(","):
            directory = CGROUP_ROOT / "memory" / where.lstrip("/")
            if (directory / "memory.limit_in_bytes").exists():
                return directory
    return None


def _write_optional(file: pathlib.Path, value: str) -> None:
    if file.exists():
        try:
            file.write_text(value)
        except OSError as e:
            log.debug("%s not written: %s", file, e)

