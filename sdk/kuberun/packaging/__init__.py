"""Code packaging: ship a project's code with its tasks, as NeMo Run's packagers do, content-addressed.

A packager collects files (``GitArchivePackager``: a checkout at a commit; ``PatternPackager``:
files matching patterns; ``HybridPackager``: several, each in a directory) and ``package()``
returns a ``CodePackage`` — a deterministic tar.gz named by its sha256. ``to_config_maps`` /
``from_config_maps`` store it in chunks; ``unpack`` verifies and extracts it on the runner's side
and ``activate`` makes it the task's working directory and first import path.

Example::

    from kuberun.packaging import GitArchivePackager, unpack, activate

    package = GitArchivePackager(subpath="src").package()
    activate(unpack(package.data, "/tmp/code", sha256=package.sha256))
"""

from kuberun.packaging.archive import CodePackage, Entry, GitInfo, build_package
from kuberun.packaging.base import Packager
from kuberun.packaging.configmaps import from_config_maps, to_config_maps
from kuberun.packaging.errors import (
    PackageIntegrityError,
    PackageTooLargeError,
    PackagingError,
    UncommittedChangesError,
    UnsafeArchiveError,
)
from kuberun.packaging.git import GitArchivePackager, UncommittedChangesWarning
from kuberun.packaging.hybrid import HybridPackager
from kuberun.packaging.pattern import PatternPackager
from kuberun.packaging.unpack import activate, unpack, verify

__all__ = [
    "CodePackage",
    "Entry",
    "GitArchivePackager",
    "GitInfo",
    "HybridPackager",
    "PackageIntegrityError",
    "PackageTooLargeError",
    "Packager",
    "PackagingError",
    "PatternPackager",
    "UncommittedChangesError",
    "UncommittedChangesWarning",
    "UnsafeArchiveError",
    "activate",
    "build_package",
    "from_config_maps",
    "to_config_maps",
    "unpack",
    "verify",
]
