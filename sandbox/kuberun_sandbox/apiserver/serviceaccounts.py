"""Every namespace gets a ``default`` ServiceAccount, as kube-controller-manager's serviceaccounts controller does.

Pods that name no ServiceAccount run as ``default``; the kubelet's TokenRequest for their projected
tokens needs it to exist (404 otherwise), so a namespace without one could not run such pods. The
real controller creates it shortly after the namespace; the emulator does it in the same write.
"""

from __future__ import annotations

from .resources import Registry
from .store import Store

DEFAULT = "default"


def ensure_default(store: Store, registry: Registry, namespace: str) -> None:
    from .versioning import prepare_create

    key = ("", "serviceaccounts", namespace, DEFAULT)
    rt = registry.get("", "v1", "serviceaccounts")
    if rt is None or store.get_ref(key) is not None:
        return
    store.put(key, prepare_create(rt, {"metadata": {"name": DEFAULT}}, namespace), "ADDED")
