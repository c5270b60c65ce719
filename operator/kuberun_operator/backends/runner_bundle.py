"""The task runner, shipped with the task to machines that may not have kuberun installed.

A rented node (SkyPilot) runs ``python -m kuberun.runner``. Installing kuberun there by name
from a package index would run whatever is published under that name — a name this project has
not registered; whoever does gets code execution on every node. So the task carries the runner
itself: the few modules it imports (stdlib only; ``fiddle`` as well for Fiddle tasks), packed
as a gzip'd tar, base64 in one environment variable. The setup unpacks it only where the image
has no ``kuberun.runner`` of its own, into a directory named by the bundle's digest; the run
script puts that directory on ``PYTHONPATH`` under the same condition. A Fiddle task on an image
without ``fiddle`` fails in setup with a message saying how to provide it — nothing is installed.

The module files are found with ``importlib.util.find_spec`` (their source is read, nothing of
them is imported here), so the operator stays within the SDK's runner contract.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import io
import shlex
import tarfile
from pathlib import Path

BUNDLE_ENV = "KUBERUN_RUNNER_B64"
# What ``kuberun.runner`` imports, transitively, for scripts and for decoding Fiddle tasks.
MODULES = ("kuberun.runner", "kuberun.restarts", "kuberun.signals", "kuberun.errors", "kuberun.serialization", "kuberun.resource.constants",
           "kuberun.metrics", "kuberun.artifacts", "kuberun.resource.summary", "kuberun.upload",
           "kuberun.resource.upload",
           # a task's code package: verified and unpacked by the runner (stdlib only)
           "kuberun.packaging.unpack", "kuberun.packaging.nodecache", "kuberun.packaging.limits", "kuberun.packaging.errors", "kuberun.packaging.paths")
PACKAGES = ("kuberun", "kuberun.resource", "kuberun.packaging")  # empty packages: only the modules above are needed
PROVIDE_HINT = ("install fiddle, or kuberun from this project's repository (a checkout or a wheel built "
                "from it), into the image; or use an image that has them")


def _source(module: str) -> bytes:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"cannot find the source of {module}")
    return Path(spec.origin).read_bytes()


def _add(tar: tarfile.TarFile, path: str, data: bytes) -> None:
    info = tarfile.TarInfo(path)
    info.size, info.mode, info.mtime = len(data), 0o644, 0  # deterministic: same modules, same bytes
    tar.addfile(info, io.BytesIO(data))


@functools.lru_cache(maxsize=1)
def bundle() -> tuple[str, str]:
    """(base64 of the tar.gz, short digest) of the runner's modules."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for package in PACKAGES:
            _add(tar, package.replace(".", "/") + "/__init__.py", b"")
        for module in MODULES:
            _add(tar, module.replace(".", "/") + ".py", _source(module))
    data = raw.getvalue()
    # gzip stores no name and mtime 0 here, so the digest depends on the sources only
    return base64.b64encode(data).decode(), hashlib.sha256(data).hexdigest()[:16]


def bundle_dir(digest: str) -> str:
    return f'"$HOME/.kuberun/runner-{digest}"'


def setup_lines(digest: str, fiddle: bool) -> list[str]:
    """Shell lines for the task's setup: unpack the runner where the image has none; check fiddle."""
    unpack = ("import base64, io, os, sys, tarfile; "
              "tarfile.open(fileobj=io.BytesIO(base64.b64decode(os.environ['" + BUNDLE_ENV + "']))).extractall(sys.argv[1])")
    lines = [f'if ! python -c "import kuberun.runner" 2>/dev/null; then mkdir -p {bundle_dir(digest)} && '
             f'python -c "{unpack}" {bundle_dir(digest)}; fi']
    if fiddle:
        message = f"kuberun: this Fiddle task needs the fiddle package on the node; {PROVIDE_HINT}"
        lines.append(f'python -c "import fiddle" 2>/dev/null || {{ echo {shlex.quote(message)} >&2; exit 1; }}')
    return lines


def run_prelude(digest: str) -> str:
    """Shell lines for the run script: use the shipped runner where the image has none."""
    return (f'if ! python -c "import kuberun.runner" 2>/dev/null; then '
            f'export PYTHONPATH={bundle_dir(digest)}"${{PYTHONPATH:+:$PYTHONPATH}}"; fi\n')
