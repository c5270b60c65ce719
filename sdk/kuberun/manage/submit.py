"""Create an Experiment in the cluster: the one create path of ``exp.run()``, ``kuberun apply`` and reproduce.

Order matters: the ConfigMaps holding large configs go first, so the operator never sees an
Experiment whose config is missing; then the Experiment; then each ConfigMap gets an owner reference
to it, so deleting the Experiment collects them (they cannot name a uid that does not exist yet).
"""

from __future__ import annotations

from kuberun.api import MERGE_PATCH, Kube, Op
from kuberun.apipath import api_path
from kuberun.manage.query import RESOURCE, Obj, experiment_path
from kuberun.resource.constants import API_VERSION, KIND


def create(kube: Kube, resource: Obj, config_maps: list[Obj], namespace: str | None = None) -> Obj:
    """Create ``config_maps``, then ``resource``, then make it own them; returns the Experiment as stored."""
    ns = namespace or resource["metadata"].get("namespace") or kube.namespace
    resource["metadata"]["namespace"] = ns
    cm_path = api_path("", "v1", "configmaps", ns)
    for cm in config_maps:
        cm["metadata"]["namespace"] = ns
        kube.request("POST", cm_path, Op("create", "configmaps", ns), body=cm)
    created = kube.request("POST", experiment_path(ns), Op("create", RESOURCE, ns), body=resource)
    owner = {"apiVersion": API_VERSION, "kind": KIND, "name": created["metadata"]["name"],
             "uid": created["metadata"]["uid"], "blockOwnerDeletion": True}
    for cm in config_maps:
        name = cm["metadata"]["name"]
        kube.request("PATCH", api_path("", "v1", "configmaps", ns, name), Op("patch", "configmaps", ns, name),
                     body={"metadata": {"ownerReferences": [owner]}}, content_type=MERGE_PATCH)
    return created
