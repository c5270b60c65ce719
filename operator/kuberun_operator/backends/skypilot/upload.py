"""A task's code package, handed to SkyPilot's own file-mount upload (the protocol of ``sky`` 0.14.1).

SkyPilot copies a task's local ``file_mounts`` to its nodes, but the files must first reach the API
server: the ``sky`` client zips them and uploads the zip in chunks (``sky/client/common.py``,
``upload_mounts_to_api_server``, ``/upload_v2``), and the task YAML carries ``file_mounts_mapping``
so the server finds them in the extracted blob (``sky/server/common.py``,
``process_mounts_in_task_on_api_server``). The bridge does the same without importing ``sky``:

1. the package, already read and verified by digest (``kuberun_operator.codestore``), is written
   into a private temporary directory (mode 0700) as a one-entry zip, and removed after the upload;
2. the zip's single entry is ``kuberun-code/<sha256>.tar.gz``, so its blob id (SkyPilot's hash over
   sorted ``(name, sha256(content))`` pairs, ``_compute_zip_blob_id``) depends on the package only:
   the same code is stored once per SkyPilot user, and a second attempt skips the upload
   (``GET /upload_v2/blob`` answers ``exists``);
3. the task's ``file_mounts`` maps ``~/.kuberun/code/<sha256>.tar.gz`` on every node to
   ``/kuberun-code/<sha256>.tar.gz`` — a name in the blob, never read from the operator's disk —
   and the runner, told that path, verifies the sha256 again and unpacks it.

The launch request then names the blob (``file_mounts_blob_id``) and the user the blob was
uploaded as (``env_vars.SKYPILOT_USER_ID``; a server with authentication uses the token's user
for both, as for the ``sky`` client).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kuberun_operator.backends.cloud import code_file

BLOB_DIR = "kuberun-code"
# The user hash (SkyPilot's 8 hex digits) uploads and launches carry when the server has no authentication.
USER_HASH = hashlib.sha256(b"kuberun-operator").hexdigest()[:8]
USER_NAME = "kuberun-operator"
CHUNK_BYTES = 95 * 1000 * 1000  # sky.server.constants.UPLOAD_CHUNK_BYTES


@dataclass(frozen=True)
class CodeBlob:
    """A zip ready to upload, and what the task YAML says about it."""

    zip_path: Path
    blob_id: str
    source: str       # the file_mounts source: the path inside the blob, as SkyPilot's mapping names it
    destination: str  # where the package lands on each node (the runner's code file)

    @property
    def file_mounts(self) -> dict[str, str]:
        return {self.destination: self.source}

    @property
    def mapping(self) -> dict[str, str]:
        return {self.source: self.source}


def blob_id(zip_path: Path) -> str:
    """SkyPilot's content hash of a zip (``sky/client/common.py::_compute_zip_blob_id``)."""
    entries = []
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            digest = hashlib.sha256()
            with zf.open(info) as f:
                for block in iter(lambda: f.read(1 << 18), b""):
                    digest.update(block)
            entries.append((info.filename, digest.digest()))
    h = hashlib.sha256()
    for name, digest_bytes in sorted(entries):
        h.update(name.encode())
        h.update(digest_bytes)
    return h.hexdigest()


@contextmanager
def code_blob(data: bytes, sha256: str) -> Iterator[CodeBlob]:
    """The verified package as SkyPilot's upload wants it, in a private directory removed afterwards."""
    where = Path(tempfile.mkdtemp(prefix="kuberun-skypilot-code-"))  # 0700: this process only
    try:
        archive = where / f"{sha256}.tar.gz"
        fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        entry = f"{BLOB_DIR}/{sha256}.tar.gz"
        zip_path = where / "upload.zip"
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as zf:  # a tar.gz: already compressed
            info = zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o600 << 16
            with zf.open(info, "w") as dest, open(archive, "rb") as src:
                shutil.copyfileobj(src, dest, 1 << 20)
        yield CodeBlob(zip_path, blob_id(zip_path), f"/{entry}", code_file(sha256))
    finally:
        shutil.rmtree(where, ignore_errors=True)


def chunks(zip_path: Path) -> Iterator[tuple[int, int, int]]:
    """(index, offset, length) of each upload chunk, as the ``sky`` client splits the zip."""
    size = zip_path.stat().st_size
    total = max(1, -(-size // CHUNK_BYTES))
    for index in range(total):
        offset = index * CHUNK_BYTES
        yield index, offset, min(CHUNK_BYTES, size - offset)
