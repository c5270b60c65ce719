"""``GitArchivePackager``: ship a git checkout's code as committed, as NeMo Run's packager of that name does.

NeMo Run archives ``HEAD`` and silently leaves uncommitted edits behind (unless told to refuse),
so a run can execute code other than what its author tested. Here the default is ``"refuse"``:
an error lists every changed or untracked file that the package would miss. ``"warn"`` ships the
revision anyway with a warning; ``"include"`` ships the working tree as it is (tracked files as
edited, plus untracked files that ``.gitignore`` does not exclude) and records ``dirty=True``.
Untracked files count as changes because a forgotten ``git add`` of a sibling module is exactly the
failure packaging exists to prevent.

Content comes from ``git archive`` (so ``export-ignore`` attributes are honoured) and is rewritten
by the one deterministic archive writer; submodules are archived at the commit the superproject
records. ``dirty`` in the record means "the package differs from ``revision``". Remote URLs are
recorded without credentials.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kuberun.gitinfo import strip_credentials
from kuberun.packaging.archive import Entry, GitInfo
from kuberun.packaging.base import Collected, Packager, SizeBudget, read_file
from kuberun.packaging.errors import PackageTooLargeError, PackagingError, UncommittedChangesError
from kuberun.packaging.limits import MAX_FILES, MAX_UNPACKED_BYTES
from kuberun.packaging.paths import member_path

UncommittedPolicy = Literal["refuse", "warn", "include"]
_POLICIES = ("refuse", "warn", "include")
_GITLINK = "160000"
_SYMLINK = "120000"
# git archive's own tar overhead (headers, padding) on top of the files' bytes.
_ARCHIVE_SLACK = MAX_FILES * 2048


class UncommittedChangesWarning(UserWarning):
    """Shipping a revision while the checkout has uncommitted changes (policy ``"warn"``)."""


@dataclass(kw_only=True)
class GitArchivePackager(Packager):
    """The checkout's files at ``ref`` (default ``HEAD``), optionally only ``subpath``, as the package root.

    Example::

        kr.GitArchivePackager(subpath="src", uncommitted="warn")
    """

    #: Any directory inside the checkout; default: the current directory.
    basepath: str = ""
    #: Ship only this directory of the repository; it becomes the package root.
    subpath: str = ""
    #: The commit to ship (a branch, tag or sha); uncommitted changes are checked only when it is HEAD.
    ref: str = "HEAD"
    #: Archive submodules too, at the commits the superproject records.
    include_submodules: bool = True
    #: What to do when the checkout differs from ``ref``: "refuse", "warn" or "include".
    uncommitted: UncommittedPolicy = "refuse"

    def collect(self) -> Collected:
        if self.uncommitted not in _POLICIES:
            raise PackagingError(f"uncommitted={self.uncommitted!r}: expected one of {', '.join(_POLICIES)}")
        start = Path(self.basepath or os.getcwd())
        top = Path(_git(start, "rev-parse", "--show-toplevel", what=f"{start} is not inside a git checkout").strip())
        revision = _git(top, "rev-parse", "--verify", "--end-of-options", f"{self.ref}^{{commit}}",
                        what=f"ref {self.ref!r} is not a commit in {top}").strip()
        head = _git(top, "rev-parse", "--verify", "HEAD^{commit}", what=f"{top} has no commits").strip()
        prefix = member_path(self.subpath) + "/" if self.subpath.strip("/.") else ""
        changes = _changes(top, self.include_submodules, prefix) if revision == head else []
        if changes and self.uncommitted == "refuse":
            raise UncommittedChangesError(str(top), changes)
        if changes and self.uncommitted == "warn":
            warnings.warn(f"{top}: shipping {revision[:12]} without {len(changes)} uncommitted change(s): "
                          + ", ".join(changes[:5]), UncommittedChangesWarning, stacklevel=3)
        budget = SizeBudget()
        if changes and self.uncommitted == "include":
            entries = _worktree_entries(top, "", self.include_submodules, budget)
        else:
            entries = _revision_entries(top, revision, "", self.include_submodules, budget)
        if prefix:
            entries = [Entry(e.path[len(prefix):], e.data, e.link, e.executable) for e in entries if e.path.startswith(prefix)]
        if not entries:
            raise PackagingError(f"nothing to package: {top} has no files{f' under {prefix}' if prefix else ''} at {self.ref}")
        dirty = bool(changes) and self.uncommitted == "include"
        return Collected(entries, GitInfo(revision=revision, remote=_remote(top), dirty=dirty))


def _git(cwd: Path, *args: str, what: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        raise PackagingError("git is not installed; GitArchivePackager needs it") from None
    except subprocess.TimeoutExpired:
        raise PackagingError(f"{what}: git {args[0]} took more than 120 s") from None
    if done.returncode != 0:
        raise PackagingError(f"{what}: {done.stderr.strip() or f'git {args[0]} failed'}")
    return done.stdout


def _changes(top: Path, submodules: bool, prefix: str) -> list[str]:
    """``git status`` lines (``M path``, ``?? path``) for changes the package would miss, under ``prefix``."""
    out = _git(top, "status", "--porcelain=v1", "-z", "--untracked-files=all",
               f"--ignore-submodules={'none' if submodules else 'all'}", what=f"git status in {top}")
    changes, fields = [], out.split("\0")
    i = 0
    while i < len(fields):
        line = fields[i]
        i += 1
        if len(line) < 4:
            continue
        code, path = line[:2], line[3:]
        if code[0] in "RC":  # a rename or copy: the next field is the old path
            i += 1
        if path.startswith(prefix) or (prefix and prefix.startswith(path.rstrip("/") + "/")):
            changes.append(f"{code.strip()} {path}")
    return sorted(changes)


def _remote(top: Path) -> str | None:
    try:
        url = _git(top, "config", "--get", "remote.origin.url", what="remote").strip()
    except PackagingError:
        return None
    return strip_credentials(url) or None


def _revision_entries(repo: Path, commit: str, prefix: str, submodules: bool, budget: SizeBudget) -> list[Entry]:
    """The files of ``commit`` in ``repo`` via ``git archive``, and (recursively) its submodules'."""
    entries = []
    with tarfile.open(fileobj=io.BytesIO(_archive(repo, commit)), mode="r:") as tar:
        for member in tar:
            if member.isdir() or member.type in (tarfile.XGLTYPE, tarfile.XHDTYPE):
                continue
            path = prefix + member.name
            if member.issym():
                entries.append(Entry(path, link=member.linkname))
            elif member.isfile():
                budget.take(member.size, path)
                handle = tar.extractfile(member)
                data = handle.read() if handle else b""
                entries.append(Entry(path, data=data, executable=bool(member.mode & 0o100)))
            else:
                raise PackagingError(f"{path}: git archive produced an unexpected member type {member.type!r}")
    if submodules:
        for mode, sha, path in _tree(repo, commit):
            if mode == _GITLINK:
                sub = _submodule_dir(repo, path, prefix)
                entries.extend(_revision_entries(sub, sha, f"{prefix}{path}/", submodules, budget))
    return entries


def _archive(repo: Path, commit: str) -> bytes:
    """``git archive`` of ``commit`` as tar bytes, read in bounded chunks (a huge tree fails fast)."""
    limit = MAX_UNPACKED_BYTES + _ARCHIVE_SLACK
    with tempfile.TemporaryFile() as err, subprocess.Popen(
        ["git", "-C", str(repo), "archive", "--format=tar", commit], stdout=subprocess.PIPE, stderr=err
    ) as proc:
        out = proc.stdout
        if out is None:
            raise PackagingError("git archive: no output pipe")
        chunks, size = [], 0
        while chunk := out.read(1 << 20):
            size += len(chunk)
            if size > limit:
                proc.kill()
                raise PackageTooLargeError(f"{repo} at {commit[:12]}: archive over {limit} bytes; use subpath or a PatternPackager")
            chunks.append(chunk)
        if proc.wait(timeout=120) != 0:
            err.seek(0)
            raise PackagingError(f"git archive in {repo}: {err.read().decode(errors='replace').strip()}")
    return b"".join(chunks)


def _tree(repo: Path, commit: str) -> list[tuple[str, str, str]]:
    """(mode, sha, path) of every entry of ``commit``'s tree."""
    out = _git(repo, "ls-tree", "-r", "-z", "--full-tree", commit, what=f"git ls-tree in {repo}")
    rows = []
    for row in filter(None, out.split("\0")):
        meta, path = row.split("\t", 1)
        mode, _kind, sha = meta.split()
        rows.append((mode, sha, path))
    return rows


def _submodule_dir(repo: Path, path: str, prefix: str) -> Path:
    sub = repo / path
    if not (sub / ".git").exists():
        raise PackagingError(
            f"submodule {prefix}{path} is not checked out: run `git submodule update --init --recursive`, "
            "or pass include_submodules=False"
        )
    return sub


def _worktree_entries(repo: Path, prefix: str, submodules: bool, budget: SizeBudget) -> list[Entry]:
    """The checkout as it is on disk: tracked files (as edited) plus untracked, not ignored, files."""
    staged = _git(repo, "ls-files", "-z", "-s", what=f"git ls-files in {repo}")
    others = _git(repo, "ls-files", "-z", "--others", "--exclude-standard", what=f"git ls-files in {repo}")
    modes: dict[str, str] = {}
    for row in filter(None, staged.split("\0")):
        meta, path = row.split("\t", 1)
        modes[path] = meta.split()[0]
    for path in filter(None, others.split("\0")):
        modes.setdefault(path, "")
    entries = []
    for path in sorted(modes):
        full = repo / path
        if modes[path] == _GITLINK:
            if submodules:
                entries.extend(_worktree_entries(_submodule_dir(repo, path, prefix), f"{prefix}{path}/", submodules, budget))
            continue
        try:
            info = full.lstat()
        except FileNotFoundError:
            continue  # deleted in the working tree: not shipped
        if stat.S_ISLNK(info.st_mode):
            entries.append(Entry(prefix + path, link=os.readlink(full)))
        elif stat.S_ISREG(info.st_mode):
            data = read_file(full, budget, prefix + path)
            entries.append(Entry(prefix + path, data=data, executable=bool(info.st_mode & 0o100)))
    return entries
