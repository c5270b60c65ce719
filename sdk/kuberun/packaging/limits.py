"""Bounds on a code package, in one place so the packer, the unpacker and the docs agree.

A package is code, not data: the limits are generous for a source tree and small enough that
building one in memory, and unpacking one in a task's working directory, stays cheap. The
unpacker enforces the same limits, so a crafted archive cannot expand into a disk-filling bomb.
"""

from __future__ import annotations

from kuberun.resource.constants import MAX_PACKAGE_BYTES

MiB = 1024 * 1024

# The compressed package (what is stored and what the digest covers): its home is kuberun.resource.constants
# (no pydantic), since the operator's record server enforces it too.
__all__ = ["MAX_PACKAGE_BYTES"]
# The sum of the regular files' sizes once unpacked.
MAX_UNPACKED_BYTES = 512 * MiB
# Regular files plus symlinks.
MAX_FILES = 50_000
# One path inside the package (bytes of its UTF-8 form), like PATH_MAX.
MAX_PATH_BYTES = 4096

# Every member has these, so identical content gives an identical archive and digest.
FIXED_MTIME = 315_532_800  # 1980-01-01T00:00:00Z: the earliest time zip and most tools accept
FILE_MODE = 0o644
EXEC_MODE = 0o755
GZIP_LEVEL = 6
