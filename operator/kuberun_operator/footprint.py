"""The operator process's own footprint, set before anything else runs (``__main__`` calls ``prepare``).

Why here and not in the library modules: both are process-wide, and right only for the process that
*is* the operator (tests and the sandbox import these modules into processes of their own).

- **glibc malloc arenas.** Every thread that allocates may get an arena of its own (up to 8 per core),
  and the operator's thread pools (API calls, Events) would each keep one, mostly empty. Two are
  enough for a process that is mostly one event loop. ``MALLOC_ARENA_MAX`` only works when set
  before the process starts (the chart and the Dockerfile set it); ``mallopt`` does the same from
  inside, for ``python -m kuberun_operator`` started any other way. Must run before threads exist.
- **kopf's optional import of the ``kubernetes`` package.** kopf imports it, when installed, only
  to recognise its model classes (``kopf._cogs.helpers.thirdparty``); the operator hands kopf plain
  dicts and logs in with its own handler, and its own client is ``kuberun.api``. The package's
  model classes were ~50 MB of RSS. Hidden while kopf is imported, so kopf takes its "not installed"
  path; imported later (by anything that truly needs it) it loads as usual.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (``mallopt(M_ARENA_MAX)``) unless ``MALLOC_ARENA_MAX`` already says; True if set."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False  # glibc read it at start; the environment wins
    name = ctypes.util.find_library("c")
    if not name:
        return False  # not glibc (musl has no arenas to cap)
    with contextlib.suppress(OSError, AttributeError):
        return bool(ctypes.CDLL(name).mallopt(M_ARENA_MAX, arenas))
    return False


def import_kopf_without_kubernetes() -> None:
    """Import kopf with the ``kubernetes`` package hidden (kopf's optional import of it fails, as if absent)."""
    if "kopf" in sys.modules or "kubernetes" in sys.modules:
        return  # too late to matter, or someone needs it: leave it be
    sys.modules["kubernetes"] = None  # type: ignore[assignment]  # makes `import kubernetes` raise ImportError
    try:
        import kopf  # noqa: F401
    finally:
        del sys.modules["kubernetes"]


def prepare() -> None:
    cap_malloc_arenas()
    import_kopf_without_kubernetes()
