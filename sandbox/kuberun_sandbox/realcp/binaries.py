"""Where the real control plane's binaries are: the one place that knows the cache path.

``.ci/install-kube.sh`` builds them into ``${XDG_CACHE_HOME:-~/.cache}/kuberun/kube-<version>/bin``
(outside any clone: CI clones afresh, the build takes minutes); they may also be on ``PATH`` (a
developer's own build, a distribution's package). ``KUBERUN_KUBE_BIN`` names another directory.
The version here and the script's default must agree: a test checks it.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil

KUBE_VERSION = "v1.35.4"
NAMES = ("etcd", "kube-apiserver", "kube-controller-manager")


class BinariesMissing(RuntimeError):
    """Some binary is not installed; the message says which and how to get it."""


@dataclasses.dataclass(frozen=True)
class Binaries:
    etcd: pathlib.Path
    kube_apiserver: pathlib.Path
    kube_controller_manager: pathlib.Path


def kube_bin_dir(version: str = KUBE_VERSION) -> pathlib.Path:
    """The directory ``.ci/install-kube.sh`` installs into (it does not have to exist)."""
    override = os.environ.get("KUBERUN_KUBE_BIN")
    if override:
        return pathlib.Path(override)
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    return cache / "kuberun" / f"kube-{version}" / "bin"


def find_binaries(version: str = KUBE_VERSION) -> Binaries:
    """The three binaries, from the cache directory first, then ``PATH``; ``BinariesMissing`` otherwise."""
    found: dict[str, pathlib.Path] = {}
    missing = []
    for name in NAMES:
        candidate = kube_bin_dir(version) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found[name] = candidate
        elif (on_path := shutil.which(name)) is not None:
            found[name] = pathlib.Path(on_path)
        else:
            missing.append(name)
    if missing:
        raise BinariesMissing(f"{', '.join(missing)} not found in {kube_bin_dir(version)} or on PATH: "
                              "build them with `make kube-tools` (.ci/install-kube.sh, needs Go)")
    return Binaries(found["etcd"], found["kube-apiserver"], found["kube-controller-manager"])
