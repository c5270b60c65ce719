"""Member paths and symlink targets that stay inside a package, checked without touching a disk.

The packer and the unpacker share these checks, so nothing the packer accepts is refused on
unpack and nothing hostile that a hand-made archive carries gets through. Symlinks are resolved
the way the kernel would, through the other symlinks in the same package, because a lexical
check alone (``normpath``) misses chains such as ``d/up -> ..`` plus ``l -> d/up/..``.
"""

from __future__ import annotations

import posixpath

from kuberun.packaging.errors import UnsafeArchiveError
from kuberun.packaging.limits import MAX_PATH_BYTES

_MAX_HOPS = 40  # Linux's MAXSYMLINKS


def member_path(name: str) -> str:
    """``name`` as a clean relative POSIX path, or UnsafeArchiveError saying why it is not one."""
    if not name or "\x00" in name:
        raise UnsafeArchiveError(f"member {name!r}: empty or contains NUL")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise UnsafeArchiveError(f"member {name[:80]!r}...: path longer than {MAX_PATH_BYTES} bytes")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"member {name!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts:
        raise UnsafeArchiveError(f"member {name!r}: names the package root")
    if ".." in parts:
        raise UnsafeArchiveError(f"member {name!r}: contains '..'")
    return "/".join(parts)


def resolves_inside(path: str, links: dict[str, str]) -> bool:
    """Whether ``path`` (relative to the root), resolved through ``links`` (path -> target), stays inside."""
    pending = [p for p in path.split("/") if p not in ("", ".")]
    pending.reverse()
    stack: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if not stack:
                return False
            stack.pop()
            continue
        here = "/".join([*stack, part])
        target = links.get(here)
        if target is None:
            stack.append(part)
            continue
        hops += 1
        if hops > _MAX_HOPS or target.startswith("/"):
            return False
        # The link is replaced by its target, read relative to the link's directory.
        pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
    return True


def check_links(links: dict[str, str]) -> None:
    """Raise UnsafeArchiveError for the first symlink (in sorted order) whose target leaves the root."""
    for path in sorted(links):
        target = links[path]
        if not target or target.startswith("/") or "\x00" in target:
            raise UnsafeArchiveError(f"symlink {path} -> {target!r}: absolute or empty target; "
                                     "a package keeps only links inside it (make it relative, or leave it out)")
        if not resolves_inside(posixpath.join(posixpath.dirname(path), target), links):
            raise UnsafeArchiveError(f"symlink {path} -> {target}: points outside the package (leave it out, "
                                     "or package the directory it points to)")


def check_parents(paths: list[str], links: dict[str, str]) -> None:
    """Refuse a member below a symlink: writing it would follow the link (``link/x`` with ``link -> ..``)."""
    for path in paths:
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in links:
                raise UnsafeArchiveError(f"member {path}: lies below the symlink {parent}")
