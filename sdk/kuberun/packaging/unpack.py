"""The runner's side of a code package: verify it, unpack it safely, make it the task's code.

A package arrives from storage that others can write (a ConfigMap, an object store), so nothing
in it is trusted: the bytes must match the sha256 the Experiment recorded; every member must be
a regular file, directory or symlink whose path and target stay inside the destination (checked
here, with the same rules the packer applies, and again by tarfile's ``data`` filter); and the
sizes the headers declare are bounded before anything is decompressed past them, so a crafted
archive can neither escape nor fill the disk. Extraction goes to a sibling temporary directory
renamed into place, so a failed unpack leaves no half-written tree behind.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from kuberun.packaging import limits
from kuberun.packaging.errors import PackageIntegrityError, PackageTooLargeError, UnsafeArchiveError
from kuberun.packaging.paths import check_links, check_parents, member_path

_KINDS = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink"}
_REFUSED = {tarfile.LNKTYPE: "hard link", tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device",
            tarfile.FIFOTYPE: "fifo", tarfile.CONTTYPE: "contiguous file"}


def verify(data: bytes, sha256: str) -> None:
    """Raise PackageIntegrityError unless ``data`` is the package recorded as ``sha256``."""
    if len(data) > limits.MAX_PACKAGE_BYTES:
        raise PackageTooLargeError(f"package is {len(data)} bytes, over the {limits.MAX_PACKAGE_BYTES}-byte limit")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256.lower():
        raise PackageIntegrityError(f"code package digest mismatch: recorded sha256 {sha256}, got {actual} "
                                    f"({len(data)} bytes): truncated, tampered with or mis-assembled")


def _members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every member, validated; raises UnsafeArchiveError / PackageTooLargeError at the first bad one."""
    members: list[tarfile.TarInfo] = []
    seen: set[str] = set()
    links: dict[str, str] = {}
    total = 0
    for member in tar:
        kind = _KINDS.get(member.type)
        if kind is None:
            what = _REFUSED.get(member.type, f"member of type {member.type!r}")
            raise UnsafeArchiveError(f"member {member.name!r}: a {what}; a code package holds only files, directories and symlinks")
        path = member_path(member.name)
        if path in seen:
            raise UnsafeArchiveError(f"member {path}: appears twice (a later copy would replace the first)")
        seen.add(path)
        if kind == "symlink":
            links[path] = member.linkname
        total += member.size if kind == "file" else 0
        if total > limits.MAX_UNPACKED_BYTES:
            raise PackageTooLargeError(f"package unpacks to over {limits.MAX_UNPACKED_BYTES} bytes")
        if len(members) >= limits.MAX_FILES * 2:
            raise PackageTooLargeError(f"package has over {limits.MAX_FILES * 2} members")
        member.name = path
        members.append(member)
    check_links(links)
    check_parents(sorted(seen), links)
    return members


def unpack(data: bytes, dest: Path | str, *, sha256: str) -> Path:
    """Verify ``data`` against ``sha256`` and unpack it into ``dest`` (absent or empty); returns ``dest``."""
    verify(data, sha256)
    dest = Path(dest).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UnsafeArchiveError(f"unpack destination {dest} exists and is not an empty directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                members = _members(tar)
                # tarfile's own filter is a second check (Python >= 3.11.4, 3.12); older interpreters (Debian 12's
                # 3.11.2, a rented node's) have only the member checks above, which refuse the same things.
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(staging, members=members, **extra)
        except (tarfile.TarError, EOFError, OSError) as exc:
            if isinstance(exc, getattr(tarfile, "FilterError", ())):
                raise UnsafeArchiveError(f"refused by tarfile's data filter: {exc}") from None
            raise UnsafeArchiveError(f"not a readable tar.gz code package: {exc}") from None
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def activate(path: Path | str) -> Path:
    """Make the unpacked package the task's code: first on ``sys.path`` and ``$PYTHONPATH``, and the cwd.

    ``$PYTHONPATH`` matters for processes the task starts (torchrun's workers, a ``python -m``
    subprocess): they import the packaged modules too.
    """
    root = str(Path(path).resolve())
    sys.path[:] = [root, *(p for p in sys.path if p != root)]
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    os.environ["PYTHONPATH"] = os.pathsep.join([root, *rest])
    os.chdir(root)
    importlib.invalidate_caches()
    return Path(root)
