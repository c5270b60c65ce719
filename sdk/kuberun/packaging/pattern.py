"""``PatternPackager``: ship the files under a root that match include patterns and no exclude pattern.

NeMo Run's packager of that name hands each pattern to ``find`` through a shell; here patterns
are matched in Python with gitignore semantics (the ``pathspec`` library), relative to
``relative_path``: ``*.py`` matches at any depth, ``src/*.py`` only directly in ``src``,
``configs/**`` everything below ``configs``, ``!keep.py`` re-includes. An absolute pattern under the
root is accepted and made relative, as NeMo Run users write them. ``.git/``, ``__pycache__/`` and
``*.pyc`` are always excluded. Symlinks are kept as symlinks when they stay inside the package and
refused otherwise; the walk never follows them, so a link loop cannot hang it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from kuberun.packaging.archive import Entry
from kuberun.packaging.base import Collected, Packager, SizeBudget, read_file
from kuberun.packaging.errors import PackageTooLargeError, PackagingError
from kuberun.packaging.limits import MAX_FILES

ALWAYS_EXCLUDED = [".git/", "__pycache__/", "*.py[co]"]
# How many directory entries one walk may visit before giving up (a root of `/` by mistake).
MAX_SCANNED = 40 * MAX_FILES


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@dataclass(kw_only=True)
class PatternPackager(Packager):
    """Files under ``relative_path`` (default: the current directory) selected by patterns.

    Example::

        kr.PatternPackager(include_pattern=["*.py", "configs/**"], exclude_pattern=["tests/"])
    """

    include_pattern: str | list[str]
    #: The package root; patterns are relative to it.
    relative_path: str = ""
    exclude_pattern: str | list[str] = field(default_factory=list)

    def collect(self) -> Collected:
        root = Path(self.relative_path or os.getcwd()).resolve()
        if not root.is_dir():
            raise PackagingError(f"relative_path {root} is not a directory")
        include = self._spec(_as_list(self.include_pattern), root, "include_pattern")
        exclude = self._spec([*ALWAYS_EXCLUDED, *_as_list(self.exclude_pattern)], root, "exclude_pattern")
        entries: list[Entry] = []
        budget = SizeBudget()
        scanned = 0
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            here = Path(dirpath)
            rel_dir = here.relative_to(root).as_posix()
            base = "" if rel_dir == "." else rel_dir + "/"
            scanned += len(dirnames) + len(filenames)
            if scanned > MAX_SCANNED:
                raise PackageTooLargeError(f"{root} holds over {MAX_SCANNED} entries; point relative_path at the project")
            linked_dirs = [d for d in dirnames if (here / d).is_symlink()]
            dirnames[:] = sorted(d for d in dirnames if d not in linked_dirs and not exclude.match_file(f"{base}{d}/"))
            for name in sorted([*filenames, *linked_dirs]):
                rel = base + name
                if exclude.match_file(rel) or not include.match_file(rel):
                    continue
                full = here / name
                info = full.lstat()
                if stat.S_ISLNK(info.st_mode):
                    entries.append(Entry(rel, link=os.readlink(full)))
                elif stat.S_ISREG(info.st_mode):
                    entries.append(Entry(rel, data=read_file(full, budget, rel), executable=bool(info.st_mode & 0o100)))
                if len(entries) > MAX_FILES:
                    raise PackageTooLargeError(f"patterns match over {MAX_FILES} files under {root}; narrow them")
        if not entries:
            raise PackagingError(f"include_pattern {_as_list(self.include_pattern)} matched no files under {root}")
        return Collected(entries)

    @staticmethod
    def _spec(patterns: list[str], root: Path, what: str) -> pathspec.GitIgnoreSpec:
        lines = []
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.strip():
                raise PackagingError(f"{what}: empty pattern {pattern!r}")
            negated, body = (True, pattern[1:]) if pattern.startswith("!") else (False, pattern)
            if body.startswith("/") and Path(body).is_absolute():
                try:
                    body = Path(body).relative_to(root).as_posix()
                except ValueError:
                    raise PackagingError(f"{what} {pattern!r} is outside relative_path {root}") from None
            lines.append(("!" if negated else "") + body)
        try:
            return pathspec.GitIgnoreSpec.from_lines(lines)
        except (ValueError, TypeError) as exc:
            raise PackagingError(f"{what}: {exc}") from None
