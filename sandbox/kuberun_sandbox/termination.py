"""The termination message, as a kubelet keeps it: ``terminationMessagePath`` read when the container ends.

A real kubelet bind-mounts a fresh file at the container's ``terminationMessagePath`` (default
``/dev/termination-log``) and, when the container terminates, copies at most 4096 bytes of it into
``state.terminated.message``; with ``terminationMessagePolicy: FallbackToLogsOnError`` an empty file
of a failed container is replaced by the log's tail (at most 80 lines / 2048 bytes). Processes here
have no mount namespace, so the path is mapped to ``<pod dir>/termination-log`` wherever it appears
in the environment or the command line — the same way podspec maps volume mount paths. kuberun's
runner leaves its run summary there, so results and metrics travel as on a cluster: through the pod's
status, with no credentials in the pod. Kept apart from ``kubelet.py`` so the node's own changes and
this one stay independent.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from .podspec import Launch, rewrite_paths

DEFAULT_PATH = "/dev/termination-log"
MAX_BYTES = 4096
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048


def local_file(pod_dir: pathlib.Path) -> pathlib.Path:
    return pod_dir / "termination-log"


def bind(launch: Launch, container: dict[str, Any], pod_dir: pathlib.Path) -> Launch:
    """The launch with the container's termination message path mapped to a fresh local file."""
    path = str(container.get("terminationMessagePath") or DEFAULT_PATH)
    target = local_file(pod_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"")
    mapping = {path: target}
    return dataclasses.replace(launch, argv=[rewrite_paths(a, mapping) for a in launch.argv],
                               env={k: rewrite_paths(v, mapping) for k, v in launch.env.items()})


def read(container: dict[str, Any], pod_dir: pathlib.Path, log_path: pathlib.Path, exit_code: int) -> str:
    """The message the kubelet would report for this termination ('' for none)."""
    try:
        with open(local_file(pod_dir), "rb") as handle:
            data = handle.read(MAX_BYTES)
    except OSError:
        data = b""
    if not data.strip() and exit_code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
        data = _log_tail(log_path)
    return data.decode("utf-8", "replace")


def _log_tail(log_path: pathlib.Path) -> bytes:
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - FALLBACK_BYTES))
            tail = handle.read()
    except OSError:
        return b""
    return b"\n".join(tail.splitlines()[-FALLBACK_LINES:])
