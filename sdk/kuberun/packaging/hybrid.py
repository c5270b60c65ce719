"""``HybridPackager``: several packagers' files in one package, each under its own directory.

As in NeMo Run, ``sub_packagers`` maps a directory name to a packager, and ``extract_at_root``
puts every packager's files at the root instead. NeMo Run lets a later packager silently
overwrite an earlier one's file; here two packagers claiming one path is an error naming it. The
package's git record is the first (in the mapping's order) sub-packager's that has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kuberun.packaging.archive import Entry, GitInfo
from kuberun.packaging.base import Collected, Packager
from kuberun.packaging.errors import PackagingError
from kuberun.packaging.paths import member_path


@dataclass(kw_only=True)
class HybridPackager(Packager):
    """Combine packagers: ``{"code": GitArchivePackager(), "configs": PatternPackager(...)}``."""

    sub_packagers: dict[str, Packager] = field(default_factory=dict)
    extract_at_root: bool = False

    def collect(self) -> Collected:
        if not self.sub_packagers:
            raise PackagingError("HybridPackager needs at least one sub-packager")
        entries: list[Entry] = []
        owner: dict[str, str] = {}
        git: GitInfo | None = None
        for folder, packager in self.sub_packagers.items():
            if not isinstance(packager, Packager):
                raise PackagingError(f"sub_packagers[{folder!r}] is a {type(packager).__name__}, not a packager")
            prefix = "" if self.extract_at_root else member_path(folder) + "/"
            collected = packager.collect()
            git = git or collected.git
            for entry in collected.entries:
                path = prefix + entry.path
                if path in owner:
                    raise PackagingError(f"{path}: both sub_packagers[{owner[path]!r}] and [{folder!r}] provide it")
                owner[path] = folder
                entries.append(Entry(path, entry.data, entry.link, entry.executable))
        return Collected(entries, git)
