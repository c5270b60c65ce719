"""One unpack of a task's code package per node, shared by every rank on that node.

Why: every process of a multi-rank job runs the runner, and each read, verified and unpacked its own
copy of the package — on a Slurm node of 8 ranks, 8 reads of up to 64 MiB, 8 sha256s and 8 trees
written at the same moment. With ``$KUBERUN_CODE_CACHE`` set (the Slurm batch script sets it under
the attempt's directory), the first rank on a node takes that node's lock, reads and unpacks the
package into ``<cache>/<node>/<sha256>``, and the node's other ranks wait for the lock and use that
tree: one read and one unpack per node. As in NeMo Run, whose ranks share the job's code directory,
a node's ranks then share their working directory.

Why per node, under the job's directory: that directory is usually on a shared filesystem, where
locks between the clients of different nodes are the least reliable part; each node's ranks lock only
their own node's file, so nodes never wait on one another. The node is Slurm's name for it
(``$SLURMD_NODENAME``: two slurmds on one host are two nodes), else the host name.

A tree is complete exactly when it exists: ``unpack`` extracts into a staging directory beside it
and renames it into place, so a rank that died half-way leaves no tree anyone would use (and its
lock goes with its process: ``flock`` locks are released by the kernel). Waiting is bounded
(``WAIT``); a rank that cannot get the lock in time unpacks a private copy instead and says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kuberun.packaging.errors import UnsafeArchiveError
from kuberun.packaging.unpack import unpack

CACHE_ENV = "KUBERUN_CODE_CACHE"
WAIT = 600.0   # seconds a rank waits for its node's unpack before making its own copy
POLL = 0.05    # seconds between tries of the lock
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def node_name() -> str:
    """This node, as one path component: Slurm's node name, else the host name."""
    name = os.environ.get("SLURMD_NODENAME") or socket.gethostname() or "node"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:128]
    return name if name not in (".", "..") else "node"


def install(root: Path, sha256: str, read: Callable[[], bytes], *, wait: float = WAIT) -> tuple[Path, bool]:
    """(this node's unpacked tree of package ``sha256``, whether this call unpacked it).

    ``read`` gives the package's bytes; it is called only by the rank that unpacks. ``unpack``
    checks them against ``sha256`` before anything is written."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise UnsafeArchiveError(f"code package digest {sha256!r:.80}: expected 64 lowercase hex digits")
    here = Path(root) / node_name()
    here.mkdir(parents=True, exist_ok=True)
    tree = here / sha256
    if tree.is_dir():
        return tree, False
    with _locked(here / f"{sha256}.lock", wait) as held:
        if not held:
            private = Path(tempfile.mkdtemp(prefix="kuberun-code-")) / "code"
            print(f"kuberun: code package {sha256[:12]}: this node's copy was not ready after {wait:g} s; "
                  f"unpacking a private one into {private}", file=sys.stderr, flush=True)
            return unpack(read(), private, sha256=sha256), True
        if tree.is_dir():  # another rank of this node unpacked it while this one waited
            return tree, False
        unpack(read(), tree, sha256=sha256)
    print(f"kuberun: code package {sha256[:12]} unpacked for node {here.name} into {tree}", file=sys.stderr, flush=True)
    return tree, True


@contextlib.contextmanager
def _locked(path: Path, wait: float) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path``; yields False when ``wait`` seconds pass without it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(POLL)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
