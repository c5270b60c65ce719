"""The packager interface: collect the files to ship, then build one deterministic archive from them.

Packagers are plain dataclasses (as NeMo Run's are), so a ``fdl.Config(GitArchivePackager, ...)``
works and an executor can hold one as a field. Every packager only *collects* entries; the one
archive writer (``archive.build_package``) makes the bytes, so determinism, limits and the
symlink rules hold for all of them, and ``HybridPackager`` combines packagers without re-reading
archives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kuberun.packaging import limits
from kuberun.packaging.archive import CodePackage, Entry, GitInfo, build_package
from kuberun.packaging.errors import PackageTooLargeError


@dataclass
class Collected:
    """What a packager found: the entries (paths relative to the package root) and their git origin."""

    entries: list[Entry] = field(default_factory=list)
    git: GitInfo | None = None


@dataclass(kw_only=True)
class Packager:
    """The passthrough packager: ships nothing, because the image already holds the code.

    Subclasses override ``collect``; ``package`` then returns a ``CodePackage``.
    """

    def collect(self) -> Collected:
        return Collected()

    def package(self) -> CodePackage | None:
        """The package to ship with a task, or None when there is nothing to ship."""
        collected = self.collect()
        if type(self) is Packager:
            return None
        return build_package(collected.entries, collected.git)


class SizeBudget:
    """Counts bytes read from disk so a packager stops reading as soon as the package cannot fit."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limits.MAX_UNPACKED_BYTES if limit is None else limit
        self.used = 0

    def take(self, size: int, what: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise PackageTooLargeError(
                f"over {self.limit} bytes of files by {what}: exclude data sets and checkpoints "
                "(store them on a volume) or narrow the patterns"
            )


def read_file(path: Path, budget: SizeBudget, shown_as: str) -> bytes:
    """The file's bytes, counted against ``budget`` before they are read."""
    budget.take(path.stat().st_size, shown_as)
    return path.read_bytes()
