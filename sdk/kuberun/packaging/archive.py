"""A deterministic, content-addressed tar.gz of a set of files: the one format every packager emits.

Identical content must give identical bytes, so a package's sha256 names its content and the same
code is stored once however often it is submitted: entries are sorted by path; every member has
the same mtime, uid/gid 0, empty owner names and mode 0644 (0755 when executable); there are no
directory members, device files or hard links; the gzip header carries no name and mtime 0.
(The digest is stable for one zlib build; another zlib may compress differently, which costs a
second copy, never a wrong one: the unpacker verifies the digest it was given.)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kuberun.packaging import limits
from kuberun.packaging.errors import PackageTooLargeError, PackagingError
from kuberun.packaging.paths import check_links, check_parents, member_path

if TYPE_CHECKING:
    from kuberun.resource.code import CodeRef, CodeStorage


@dataclass(frozen=True)
class Entry:
    """One file of a package: regular (``data``) or a symlink (``link``, relative, inside the package)."""

    path: str
    data: bytes | None = None
    link: str | None = None
    executable: bool = False

    def __post_init__(self) -> None:
        if (self.data is None) == (self.link is None):
            raise PackagingError(f"{self.path}: an entry is either a file (data) or a symlink (link)")


@dataclass(frozen=True)
class GitInfo:
    """Where packaged code came from: the commit shipped, the remote (no credentials), uncommitted edits."""

    revision: str | None = None
    remote: str | None = None
    dirty: bool | None = None


@dataclass(frozen=True)
class CodePackage:
    """A built package: its bytes and what a record needs to find and verify them later."""

    data: bytes = field(repr=False)
    sha256: str
    size: int
    files: int
    unpacked_size: int
    git: GitInfo | None = None

    @property
    def filename(self) -> str:
        return f"{self.sha256}.tar.gz"

    def write(self, directory: Path | str) -> Path:
        """Write the package as ``<sha256>.tar.gz`` in ``directory``; returns the path."""
        path = Path(directory) / self.filename
        path.write_bytes(self.data)
        return path

    def to_code_ref(self, storage: CodeStorage) -> CodeRef:
        """The record of this package for an Experiment's spec, given where it is stored."""
        from kuberun.resource.code import CODE_ENCODING, CodeRef, GitRef

        git = GitRef(revision=self.git.revision, remote=self.git.remote, dirty=self.git.dirty) if self.git else None
        return CodeRef(encoding=CODE_ENCODING, sha256=self.sha256, size=self.size, files=self.files, git=git, storage=storage)


def build_package(entries: list[Entry], git: GitInfo | None = None) -> CodePackage:
    """The deterministic tar.gz of ``entries``. Raises PackagingError / PackageTooLargeError."""
    by_path: dict[str, Entry] = {}
    for entry in entries:
        path = member_path(entry.path)
        if path in by_path:
            raise PackagingError(f"{path}: two files claim the same path in the package")
        by_path[path] = entry
    if len(by_path) > limits.MAX_FILES:
        raise PackageTooLargeError(f"{len(by_path)} files: a package holds at most {limits.MAX_FILES}; exclude data and build outputs")
    links = {p: e.link for p, e in by_path.items() if e.link is not None}
    check_links(links)
    check_parents(sorted(by_path), links)
    unpacked = sum(len(e.data) for e in by_path.values() if e.data is not None)
    if unpacked > limits.MAX_UNPACKED_BYTES:
        raise PackageTooLargeError(
            f"{unpacked} bytes of files: a package holds at most {limits.MAX_UNPACKED_BYTES}; "
            "exclude data sets and checkpoints (store them on a volume) or narrow the patterns"
        )
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=limits.GZIP_LEVEL) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(by_path):
            tar.addfile(*_member(path, by_path[path]))
    data = raw.getvalue()
    if len(data) > limits.MAX_PACKAGE_BYTES:
        raise PackageTooLargeError(
            f"package is {len(data)} bytes compressed, over the {limits.MAX_PACKAGE_BYTES}-byte limit; "
            "exclude data sets and checkpoints or narrow the patterns"
        )
    return CodePackage(data=data, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                       files=len(by_path), unpacked_size=unpacked, git=git)


def _member(path: str, entry: Entry) -> tuple[tarfile.TarInfo, io.BytesIO | None]:
    info = tarfile.TarInfo(path)
    info.mtime = limits.FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = entry.link
        info.mode = 0o777
        return info, None
    data = entry.data or b""
    info.type = tarfile.REGTYPE
    info.mode = limits.EXEC_MODE if entry.executable else limits.FILE_MODE
    info.size = len(data)
    return info, io.BytesIO(data)
