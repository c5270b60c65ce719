"""``kuberun artifacts``: what an attempt's record lists, and a verified download from the log store.

The record (``status.tasks[].attempts[].artifacts``) names the store location and the first files;
the complete list is the manifest the operator wrote beside that location
(``<location>.manifest.json``, see the operator's ``logstore/artifacts.py``). A download reads the
manifest and each object through fsspec with *the user's* credentials (a directory store needs
none; an S3 store reads the usual ``AWS_*`` variables) — nothing here holds the operator's. Every
path is checked before anything is written, every file is verified against its size and sha256
while it streams into a temporary file, and renamed into place only when it matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from kuberun.errors import KuberunError

Obj = dict[str, Any]
CHUNK = 1 << 20
MAX_MANIFEST = 64 << 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def records(obj: Obj, task: str | None = None, attempt: int | None = None) -> list[dict[str, Any]]:
    """``[{task, attempt, phase, artifacts}]`` of the attempts that synced artifacts (latest of each task
    unless ``attempt`` is given). Raises KuberunError when ``task`` names no task."""
    tasks = (obj.get("status") or {}).get("tasks") or []
    names = [str(t.get("name")) for t in tasks]
    if task is not None and task not in names:
        spec_names = [t.get("name") for t in (obj.get("spec") or {}).get("tasks") or []]
        if task not in spec_names:
            raise KuberunError(f"experiment {obj['metadata']['name']} has no task {task!r}; tasks: {', '.join(map(str, spec_names))}")
    out = []
    for record in tasks:
        if task is not None and record.get("name") != task:
            continue
        attempts = [a for a in record.get("attempts") or [] if a.get("artifacts")]
        if attempt is not None:
            attempts = [a for a in attempts if a.get("attempt") == attempt]
        if attempts:
            chosen = attempts[-1]
            out.append({"task": record.get("name"), "attempt": chosen.get("attempt"), "phase": chosen.get("phase"),
                        "artifacts": chosen["artifacts"]})
    return out


def _safe(path: Any) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or _CONTROL.search(path) \
            or any(part in ("", ".", "..") for part in path.split("/")):
        raise KuberunError(f"manifest path {str(path)[:200]!r} is unsafe; refusing to download anything")
    return path


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:
        raise KuberunError("downloading artifacts needs fsspec: pip install 'kuberun[logstore]'") from None
    return fsspec


def manifest(location: str) -> list[dict[str, Any]]:
    """The manifest's entries (``path``, ``size``, ``sha256``), every path checked."""
    fsspec = _fsspec()
    url = location.rstrip("/") + ".manifest.json"
    try:
        with fsspec.open(url, "rb") as handle:
            data = handle.read(MAX_MANIFEST + 1)
    except (OSError, ValueError) as exc:
        raise KuberunError(f"cannot read the artifacts manifest {url}: {exc}") from None
    if len(data) > MAX_MANIFEST:
        raise KuberunError(f"the artifacts manifest {url} is larger than {MAX_MANIFEST >> 20} MiB")
    try:
        entries = json.loads(data).get("entries") or []
    except (ValueError, AttributeError):
        raise KuberunError(f"the artifacts manifest {url} is not a manifest") from None
    seen: set[str] = set()
    for entry in entries:
        path = _safe(entry.get("path"))
        if path in seen:
            raise KuberunError(f"manifest path {path!r} is listed twice; refusing to download anything")
        seen.add(path)
        if not isinstance(entry.get("size"), int) or not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256"))):
            raise KuberunError(f"manifest entry {path!r} lacks a size or sha256")
    return entries


def download(location: str, dest: Path) -> list[Path]:
    """Every file of the manifest at ``location`` into ``dest`` (its relative paths kept), verified."""
    fsspec = _fsspec()
    entries = manifest(location)
    root = dest.resolve()
    written = []
    for entry in entries:
        target = root / entry["path"]
        if root not in target.resolve().parents:
            raise KuberunError(f"manifest path {entry['path']!r} leaves {dest}; refusing it")
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".kuberun-")
        try:
            with os.fdopen(fd, "wb") as out, fsspec.open(f"{location.rstrip('/')}/{entry['path']}", "rb") as src:
                while chunk := src.read(CHUNK):
                    size += len(chunk)
                    if size > entry["size"]:
                        break
                    digest.update(chunk)
                    out.write(chunk)
            if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
                raise KuberunError(f"artifact {entry['path']!r}: stored bytes do not match the manifest; not written")
            os.replace(temp, target)
        except OSError as exc:
            raise KuberunError(f"artifact {entry['path']!r}: cannot download: {exc}") from None
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
        written.append(target)
    return written
