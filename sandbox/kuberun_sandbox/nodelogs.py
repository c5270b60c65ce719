"""``pods/log`` for the emulator when the node runs in a process of its own (``run.py``).

Why: the emulator used to ask the in-process node for a pod's log; a node in another process (so
the API server and the node each get a core, and the node can crash and come back alone) is not
there to ask. Its log files and records are on the same disk, though: the log is the file the
node writes (``<data dir>/logs/<namespace>/<name>.log``), and whether a ``follow`` should keep
reading is whether the pod's process still runs, which its record tells (``podstate.py``).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from .podstate import PodState, known_uids
from .process import stream_log, tail_offset


class FileLogs:
    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = pathlib.Path(data_dir)
        self.state_root = self.data_dir / "node-state"

    def _record(self, namespace: str, name: str) -> tuple[PodState, dict[str, Any]] | None:
        """The newest record of the pod named so (a pod of the same name may have run before)."""
        best: tuple[float, PodState, dict[str, Any]] | None = None
        for uid in known_uids(self.state_root):
            state = PodState(self.state_root, uid)
            intent = state.intent()
            if intent and (intent.get("namespace"), intent.get("name")) == (namespace, name):
                mtime = os.stat(state.dir).st_mtime
                if best is None or mtime > best[0]:
                    best = (mtime, state, intent)
        return None if best is None else (best[1], best[2])

    async def logs(self, namespace: str, name: str, container: str | None, follow: bool,
                   tail_lines: int | None = None) -> Any:
        """The provider ``ApiServer.set_log_provider`` takes (None: no log, 404)."""
        file_path = self.data_dir / "logs" / namespace / f"{name}.log"
        if not file_path.exists():
            return None
        record = self._record(namespace, name)
        if record is not None and container and record[1].get("container") not in (None, "", container):
            return None
        offset = tail_offset(file_path, tail_lines) if tail_lines is not None else 0

        def still_running() -> bool:
            return record is not None and record[0].alive_pid() is not None

        return stream_log(file_path, offset, follow, still_running)
