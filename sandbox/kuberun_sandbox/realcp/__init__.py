"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager.

The emulator (``kuberun_sandbox.apiserver``) is a model of Kubernetes; this subpackage runs the real
thing from binaries built by ``.ci/install-kube.sh``, so the same tests and the same ``kuberun
sandbox`` can run against both and every difference shows up as an emulator bug. Kubelet and
scheduler are played by the sandbox node in "kubelet only" mode (``kuberun_sandbox.node``).

Example::

    from kuberun_sandbox.realcp import ControlPlane, find_binaries

    with ControlPlane(find_binaries(), workdir) as cp:
        print(cp.admin_kubeconfig)              # system:masters
        alice = cp.user_kubeconfig("alice")     # no groups: RBAC decides what alice may do
"""

from __future__ import annotations

from .binaries import KUBE_VERSION, Binaries, BinariesMissing, find_binaries, kube_bin_dir
from .controlplane import ControlPlane, ControlPlaneError

__all__ = ["KUBE_VERSION", "Binaries", "BinariesMissing", "ControlPlane", "ControlPlaneError", "find_binaries",
           "kube_bin_dir"]
