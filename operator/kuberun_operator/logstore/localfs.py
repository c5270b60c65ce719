"""Reading a task's output directory and writing a download directory without leaving either.

A task controls every name in its output directory, and it runs while we read it, so checks on
path strings are not enough: a component checked now can be a symlink by the time we open it. Here
every open walks from a directory file descriptor one component at a time with ``O_NOFOLLOW``, so the
kernel refuses a symlink wherever one appears (``ELOOP``), and we never follow one except on purpose:
a symlink whose resolved target is a regular file inside the root is read *as that target's path
inside the root*, walked the same way. Anything else is reported as skipped, never silently dropped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from kuberun_operator.logstore import errors, paths

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)  # NONBLOCK: a FIFO never blocks open()


@dataclass(frozen=True)
class Found:
    """A file to consider: ``path`` as it will be named in the store, ``source`` as it is read."""

    path: str
    source: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Refused:
    path: str
    reason: str


def scan(root: Path) -> tuple[list[Found], list[Refused]]:
    """Every regular file under ``root`` (sorted by path), and what was refused and why."""
    found: list[Found] = []
    refused: list[Refused] = []
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames, dirfd in os.fwalk(root, follow_symlinks=False):
        base = os.path.relpath(dirpath, root)
        # fwalk lists a symlink to a directory among the directories (and then does not descend):
        # take such links out and judge them like any other entry, so none is dropped unreported.
        links = [d for d in dirnames if _is_link(d, dirfd)]
        dirnames[:] = sorted(d for d in dirnames if d not in links)
        for name in sorted([*filenames, *links]):
            rel = name if base == "." else f"{base}/{name}"
            shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
            try:
                paths.parts(rel, "artifact")
            except errors.UnsafePathError:
                refused.append(Refused(shown, "unsafe-name"))
                continue
            try:
                info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except OSError:  # removed by the task since the listing
                refused.append(Refused(shown, "vanished"))
                continue
            source = rel
            if stat.S_ISLNK(info.st_mode):
                target = os.path.realpath(os.path.join(dirpath, name))
                if os.path.commonpath([real_root, target]) != real_root or target == real_root:
                    refused.append(Refused(shown, "symlink-outside"))
                    continue
                source = os.path.relpath(target, real_root)
                try:
                    paths.parts(source, "artifact")
                    info = os.stat(target, follow_symlinks=False)
                except (errors.UnsafePathError, OSError):
                    refused.append(Refused(shown, "symlink-outside"))
                    continue
            if not stat.S_ISREG(info.st_mode):
                refused.append(Refused(shown, "not-a-regular-file"))
                continue
            found.append(Found(rel, source, info.st_size, info.st_mtime_ns))
    found.sort(key=lambda item: item.path)
    return found, refused


def _is_link(name: str, dirfd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_beneath(root: Path, rel: str) -> int:
    """A read-only fd of ``root/rel``, refusing any symlink on the way and anything not a regular file."""
    items = paths.parts(rel, "artifact")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for item in items[:-1]:
            next_fd = os.open(item, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(items[-1], _READ_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise errors.UnsafePathError(f"artifact {rel!r}: no longer a regular file")
    return file_fd


class BeneathWriter:
    """Writes ``dest/rel`` through a hidden temp file renamed into place; refuses symlinks in ``dest``."""

    def __init__(self, dest: Path, rel: str) -> None:
        items = paths.parts(rel, "manifest path")
        dest.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        try:
            for item in items[:-1]:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(item, 0o755, dir_fd=fd)
                try:
                    next_fd = os.open(item, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    raise errors.UnsafePathError(
                        f"download {rel!r}: {item!r} in the destination is not a plain directory (a symlink?)"
                    ) from None
                os.close(fd)
                fd = next_fd
        except BaseException:
            os.close(fd)
            raise
        self._dir_fd = fd
        self._name = items[-1]
        self._temp = f".{items[-1][:200]}.kuberun-partial-{secrets.token_hex(6)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self._temp, flags, 0o644, dir_fd=self._dir_fd)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def commit(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        # os.replace onto an existing symlink replaces the link itself; it never writes through it.
        os.replace(self._temp, self._name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        os.close(self._dir_fd)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        try:
            os.unlink(self._temp, dir_fd=self._dir_fd)
        finally:
            os.close(self._dir_fd)
