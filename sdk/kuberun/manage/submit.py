"""Create an Experiment in the cluster: the one create path of ``exp.run()``, ``kuberun apply`` and reproduce.

Order matters: the ConfigMaps holding large configs go first, so the operator never sees an
Experiment whose config is missing; then the Experiment; then each ConfigMap gets an owner reference
to it, so deleting the Experiment collects them (they cannot name a uid that does not exist yet).

Code package chunks (``kuberun.packaging.ship``) are shared by digest: one that already exists is the
same content (409 is success), and the Experiment is *added* to its owners, read-modify-write guarded
by ``resourceVersion``, so the chunk lives as long as any Experiment that runs that code.

A package over the ConfigMap limit is uploaded first, through the operator's record server as the
user (``create`` on experiments in the namespace), into the operator's store; one already stored
(the same digest, in this namespace) is not sent again.
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
    from kuberun.packaging.ship import is_code_config_map, stored_packages
    from kuberun.resource import ExperimentResource

    _upload_code(kube, ns, stored_packages(ExperimentResource.parse(resource).spec.tasks))

    for cm in config_maps:
        cm["metadata"]["namespace"] = ns
        _create_config_map(kube, ns, cm, is_code_config_map(cm))
    from kuberun.packaging.ship import code_config_maps

    shared = code_config_maps(ExperimentResource.parse(resource).spec.tasks)
    posted = {cm["metadata"]["name"] for cm in config_maps}
    for name in shared:  # a reproduction reuses the original's chunks: they must still be there
        if name not in posted:
            _get_code(kube, ns, name)
    created = kube.request("POST", experiment_path(ns), Op("create", RESOURCE, ns), body=resource)
    owner = {"apiVersion": API_VERSION, "kind": KIND, "name": created["metadata"]["name"],
             "uid": created["metadata"]["uid"], "blockOwnerDeletion": True}
    for name in shared:
        _add_owner(kube, ns, name, owner)
    for cm in config_maps:
        name = cm["metadata"]["name"]
        if is_code_config_map(cm):
            continue
        kube.request("PATCH", api_path("", "v1", "configmaps", ns, name), Op("patch", "configmaps", ns, name),
                     body={"metadata": {"ownerReferences": [owner]}}, content_type=MERGE_PATCH)
    return created


def _create_config_map(kube: Kube, ns: str, cm: Obj, shared: bool, attempts: int = 3) -> None:
    """Create ``cm``; a shared code chunk that exists is reused, after taking the collector's mark off.

    Removing the mark is a write, so the operator's collector (``kuberun_operator/codegc``) cannot
    delete the version it read; if it deleted the chunk first, the patch is a 404 and it is created again.
    """
    from kuberun.errors import AlreadyExistsError, NotFoundError
    from kuberun.resource.code import ANNOTATION_CODE_UNREFERENCED

    name = cm["metadata"]["name"]
    for _ in range(attempts):
        try:
            kube.request("POST", api_path("", "v1", "configmaps", ns), Op("create", "configmaps", ns), body=cm)
            return
        except AlreadyExistsError:
            if not shared:
                raise
        try:
            kube.request("PATCH", api_path("", "v1", "configmaps", ns, name), Op("patch", "configmaps", ns, name),
                         body={"metadata": {"annotations": {ANNOTATION_CODE_UNREFERENCED: None}}}, content_type=MERGE_PATCH)
            return
        except NotFoundError:
            continue  # collected between our create and our patch: create it again
    raise NotFoundError(f"configmap {name!r} kept disappearing while it was reused; retry the submit")


def _add_owner(kube: Kube, ns: str, name: str, owner: Obj, attempts: int = 5) -> None:
    """Append ``owner`` to a shared ConfigMap's ownerReferences (a 409 from a concurrent writer: read again)."""
    from kuberun.errors import ConflictError

    path = api_path("", "v1", "configmaps", ns, name)
    for _ in range(attempts):
        current = _get_code(kube, ns, name)
        refs = list(current["metadata"].get("ownerReferences") or [])
        if any(r.get("uid") == owner["uid"] for r in refs):
            return
        patch = {"metadata": {"ownerReferences": [*refs, owner], "resourceVersion": current["metadata"]["resourceVersion"]}}
        try:
            kube.request("PATCH", path, Op("patch", "configmaps", ns, name), body=patch, content_type=MERGE_PATCH)
            return
        except ConflictError:
            continue
    raise ConflictError(409, f"configmap {name!r}: ownerReferences kept changing; retry the submit", "Conflict")


def _get_code(kube: Kube, ns: str, name: str) -> Obj:
    from kuberun.errors import ObjectNotFoundError

    try:
        return kube.request("GET", api_path("", "v1", "configmaps", ns, name), Op("get", "configmaps", ns, name))
    except ObjectNotFoundError:
        raise ObjectNotFoundError(404, f"code package ConfigMap {name!r} is gone from namespace {ns!r} (deleted with the "
                                  "last experiment that used it): the recorded code cannot run again", "NotFound") from None


def _upload_code(kube: Kube, ns: str, refs: list) -> None:
    """Store each package over the ConfigMap limit through the record server, unless it is there already."""
    if not refs:
        return
    from kuberun.errors import ObjectNotFoundError
    from kuberun.manage.records import NoRecordServer, RecordClient
    from kuberun.packaging import ship
    from kuberun.packaging.errors import PackageTooLargeError
    from kuberun.resource.code import CONFIGMAP_CODE_LIMIT

    try:
        client = RecordClient(kube)
    except NoRecordServer as exc:
        first = refs[0]
        raise PackageTooLargeError(f"code package {first.sha256[:12]} is {first.size} bytes, over the {CONFIGMAP_CODE_LIMIT}-byte "
                                   f"ConfigMap limit; larger packages are uploaded through the operator's record server, "
                                   f"and {exc}") from None
    for ref in refs:
        if client.has_code(ns, ref.sha256):
            ship.staged.pop(ref.sha256, None)
            continue
        data = ship.staged.get(ref.sha256)
        if data is None:
            raise ObjectNotFoundError(404, f"code package {ref.sha256[:12]} ({ref.size} bytes) is not in the operator's store "
                                      f"for namespace {ns!r}, and this process did not build it: the recorded code cannot "
                                      "run here", "NotFound")
        client.put_code(ns, ref.sha256, data)
        ship.staged.pop(ref.sha256, None)
