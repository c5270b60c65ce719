"""What the node persists about each pod it runs, so a node restart adopts its processes.

Why: task processes outlive the node (each runs in its own session), so a node that forgets them
on restart either fails tasks that succeed or runs them twice. Each pod gets a directory
``<data dir>/state/<pod uid>/`` holding, in the order they come to exist:

- ``intent.json``: written *before* the process is spawned: the node meant to run it;
- ``started``: written by the wrapper shell (``process.py``) as its first act, before the command;
- ``proc.json``: the wrapper's pid and its start time (``/proc/PID/stat`` field 22), written by the
  node right after the spawn: pid + start time identify the process even after pid reuse;
- ``exit``: the command's exit status, written by the wrapper when it ends (128+N for signal N);
- ``stopped``: the node killed the process itself (its own clean stop), so the exit is not the task's.

Recovery reads them back (``find``): a live process is adopted; an ended one reports its ``exit``;
one that had ``started`` but left no exit is lost (Kubernetes' ``ContainerStatusUnknown``); an
intent with no trace of a start never ran the command, so starting it now runs it once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
from typing import Any


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None: no such process, or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] == b"Z":
        return None  # ended, waiting to be reaped: not running
    return int(fields[19])


def _cmdline(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []


@dataclasses.dataclass
class Found:
    """What recovery knows about one pod's process."""

    pid: int | None          # alive, with this pid (the wrapper's: the process group's leader)
    exit_code: int | None    # ended, with this recorded status
    started: bool            # the command was started (so it must not be started again)
    stopped_by_node: bool    # the node's own clean stop killed it


class PodState:
    """The records of one pod, in ``<root>/<uid>/``."""

    def __init__(self, root: pathlib.Path, uid: str) -> None:
        self.uid = uid
        self.dir = root / uid

    # --- writing ---------------------------------------------------------------------------
    def write_intent(self, pod: dict[str, Any], started: str) -> None:
        """Persist the intent to run ``pod`` (from ``started``, an RFC 3339 time) before anything is spawned."""
        meta = pod["metadata"]
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in ("started", "proc.json", "exit", "stopped"):
            (self.dir / stale).unlink(missing_ok=True)
        record = {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
                  "job": (meta.get("labels") or {}).get("controller-uid", ""), "started": started,
                  "container": str(((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", ""))}
        _write_durably(self.dir / "intent.json", json.dumps(record))

    def write_proc(self, pid: int) -> None:
        start = proc_start_time(pid)
        if start is not None:
            _write_durably(self.dir / "proc.json", json.dumps({"pid": pid, "start": start}))

    def mark_stopped(self) -> None:
        (self.dir / "stopped").touch()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- reading ---------------------------------------------------------------------------
    @property
    def exit_path(self) -> pathlib.Path:
        return self.dir / "exit"

    def intent(self) -> dict[str, Any] | None:
        try:
            value: dict[str, Any] = json.loads((self.dir / "intent.json").read_text())
            return value
        except (FileNotFoundError, ValueError):
            return None

    def exit_code(self) -> int | None:
        try:
            return int(self.exit_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None  # none yet, or the wrapper died mid-write

    def alive_pid(self) -> int | None:
        """The pid of this pod's live wrapper, checked by pid *and* start time (pid reuse is no match);
        without a ``proc.json`` (the node died right after the spawn) found by its command line."""
        try:
            record = json.loads((self.dir / "proc.json").read_text())
        except (FileNotFoundError, ValueError):
            return self._scan()
        pid = int(record["pid"])
        return pid if proc_start_time(pid) == record["start"] else None

    def _scan(self) -> int | None:
        marker = str(self.dir).encode()
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and marker in _cmdline(int(entry.name)):
                pid = int(entry.name)
                if proc_start_time(pid) is not None:
                    self.write_proc(pid)
                    return pid
        return None

    def find(self) -> Found:
        pid = self.alive_pid()
        # Files are read after the process check: a wrapper that ended in between has written them.
        return Found(pid=pid, exit_code=None if pid is not None else self.exit_code(),
                     started=pid is not None or (self.dir / "started").exists(),
                     stopped_by_node=(self.dir / "stopped").exists())


def known_uids(root: pathlib.Path) -> list[str]:
    """The pods this node has a record of (any state)."""
    if not root.is_dir():
        return []
    return sorted(entry.name for entry in os.scandir(root) if entry.is_dir())


def _write_durably(file: pathlib.Path, text: str) -> None:
    """Atomic (rename), not fsync'd: these records guard against the node *process* dying, which
    leaves the page cache intact; a machine crash ends the task processes too."""
    tmp = file.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, file)
