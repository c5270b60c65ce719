"""Talk to the cluster: the current kube context (or an explicit kubeconfig), lazily imported.

The ``kubernetes`` package costs ~0.3 s to import, so nothing here runs at ``import kuberun``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kuberun.resource.constants import GROUP, PLURAL, VERSION


@dataclass
class Cluster:
    """An API client bound to a kubeconfig context, with the namespace and user it implies."""

    api: Any  # kubernetes.client.ApiClient
    namespace: str
    user: str | None

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)


def connect(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None) -> Cluster:
    """Load a kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``; in a pod, the service account)."""
    import os

    from kubernetes import client, config

    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except (config.ConfigException, FileNotFoundError, TypeError):
        contexts, active = [], None
    if active is None and not path and os.environ.get("KUBERNETES_SERVICE_HOST"):
        cfg = client.Configuration()
        config.load_incluster_config(client_configuration=cfg)
        return Cluster(api=client.ApiClient(cfg), namespace=namespace or "default", user=None)
    chosen = next((c for c in contexts if c["name"] == context), active) if context else active
    api = config.new_client_from_config(config_file=path, context=context)
    ctx = (chosen or {}).get("context", {})
    return Cluster(api=api, namespace=namespace or ctx.get("namespace") or "default", user=ctx.get("user"))


def create_experiment(cluster: Cluster, resource: dict[str, Any], config_maps: list[dict[str, Any]]) -> dict[str, Any]:
    """Create the ConfigMaps, then the Experiment, then make the Experiment own the ConfigMaps.

    ConfigMaps go first so the operator never sees an Experiment whose config is missing.
    """
    namespace = resource["metadata"].get("namespace") or cluster.namespace
    resource["metadata"]["namespace"] = namespace
    for cm in config_maps:
        cm["metadata"]["namespace"] = namespace
        cluster.core.create_namespaced_config_map(namespace, cm)
    created = cluster.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, resource)
    owner = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Experiment",
        "name": created["metadata"]["name"],
        "uid": created["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }
    for cm in config_maps:
        cluster.core.patch_namespaced_config_map(cm["metadata"]["name"], namespace, {"metadata": {"ownerReferences": [owner]}})
    return created
