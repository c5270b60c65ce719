"""A task's code package, stored in the Lepton workspace's file storage and mounted into its job.

Lepton cannot mount a file the operator writes, but every workspace has file storage that jobs
mount (``spec.mounts``: ``path`` in the storage, ``mount_path`` in the container, ``from`` the
volume). The bridge uploads the package, already read and verified by digest
(``kuberun_operator.codestore``), with the SDK's storage calls (``client.py``) to
``<codeStorage.path>/<sha256>/code.tar.gz``: per digest, so identical code is stored once per
workspace, and a later attempt (or another experiment) finds it with ``HEAD`` and sends nothing.
A file whose size differs from the package (an upload cut short) is replaced; one just uploaded is
read back and its sha256 checked before the job is created, and the runner checks it again.

The job mounts only that package's own directory (read by the runner at
``/kuberun/code/<sha256>/code.tar.gz``), never the directory of every package. The workspace's
storage is shared by the namespaces the admin lets use the workspace; packages there are named by
digest, not by namespace.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kuberun_operator.backend_config import LeptonCodeStorage
from kuberun_operator.backends.base import BackendError
from kuberun_operator.backends.lepton.client import LeptonClient

FILE_NAME = "code.tar.gz"
MOUNT_ROOT = "/kuberun/code"


def stored_dir(storage: LeptonCodeStorage, sha256: str) -> str:
    return f"{storage.path.rstrip('/')}/{sha256}"


def code_file(sha256: str) -> str:
    """Where the runner reads the package inside the job."""
    return f"{MOUNT_ROOT}/{sha256}/{FILE_NAME}"


def code_mount(storage: LeptonCodeStorage, sha256: str) -> dict[str, Any]:
    """The job's mount of this one package's directory (the shape of ``leptonai`` ``Mount``)."""
    return {"path": stored_dir(storage, sha256), "mount_path": f"{MOUNT_ROOT}/{sha256}", "from": storage.mount_from}


async def deliver(client: LeptonClient, storage: LeptonCodeStorage, data: bytes, sha256: str) -> None:
    """Make ``<path>/<sha256>/code.tar.gz`` hold ``data`` (uploaded only when it does not already)."""
    fs, where = storage.file_system, stored_dir(storage, sha256)
    target = f"{where}/{FILE_NAME}"
    size = await client.stored_size(fs, target)
    if size == len(data):
        return  # stored before (per digest); the runner verifies the sha256 on its side
    if size is not None:
        await client.delete_file(fs, target)  # a partial upload: replace it
    await client.make_dir(fs, storage.path)
    await client.make_dir(fs, where)
    private = Path(tempfile.mkdtemp(prefix="kuberun-lepton-code-"))  # 0700: this process only
    try:
        local = private / FILE_NAME
        fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        await client.put_file(fs, target, local)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    stored = await client.file_sha256(fs, target)
    if stored != (len(data), sha256):
        await client.delete_file(fs, target)  # never leave wrong bytes under the digest's name
        raise BackendError("BackendUnavailable", f"Lepton workspace {client.workspace!r}: the stored code package "
                           f"{sha256[:12]} reads back as other bytes; it is uploaded again on the next try", permanent=False)
