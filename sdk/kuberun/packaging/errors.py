"""Errors of code packaging: each says which file or limit is at fault and what to do next.

They derive from ``kuberun.errors.KuberunError`` (and ``ValueError`` where the input is at fault),
so callers that catch kuberun's errors catch these too.
"""

from __future__ import annotations

from kuberun.errors import KuberunError


class PackagingError(KuberunError, ValueError):
    """The code cannot be packaged as asked (not a git checkout, bad pattern, escaping symlink...)."""


class UncommittedChangesError(PackagingError):
    """The checkout differs from the revision that would be shipped, and the policy is ``"refuse"``."""

    def __init__(self, root: str, changed: list[str]) -> None:
        shown = changed[:20]
        more = f"\n  ... and {len(changed) - len(shown)} more" if len(changed) > len(shown) else ""
        super().__init__(
            f"{root} has uncommitted changes that would not be shipped:\n  "
            + "\n  ".join(shown)
            + more
            + "\ncommit them, or pass uncommitted='include' (ship the working tree) or 'warn' (ship HEAD anyway)"
        )
        self.changed = changed


class PackageTooLargeError(PackagingError):
    """The package is over a documented limit (bytes, unpacked bytes or files)."""


class PackageIntegrityError(KuberunError, ValueError):
    """A package's bytes do not match the sha256 it was recorded with (truncated, tampered, mis-assembled)."""


class UnsafeArchiveError(KuberunError, ValueError):
    """An archive member would land outside the destination, or is a kind of file a package never holds."""
