"""Resource endpoints: get, list, create, update (PUT), patch, delete, deletecollection."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import (
    builtin,
    codec,
    crds,
    deletion,
    freshness,
    gc,
    managed,
    patch,
    scale,
    serviceaccounts,
    tables,
    versioning,
)
from .errors import ApiError, already_exists, bad_request, not_found, qualified
from .resources import Registry, ResourceType
from .selection import Paginator, field_selector, label_selector
from .store import Key, Store

CRD_GROUP, CRD_PLURAL = "apiextensions.k8s.io", "customresourcedefinitions"


@dataclass
class Target:
    """What a resource URL addresses."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None

    def key(self, name: str | None = None, namespace: str | None = None) -> Key:
        ns = (namespace if namespace is not None else self.namespace) if self.rt.namespaced else ""
        return codec.storage_group(self.rt), self.rt.plural, ns or "", name or self.name or ""


def respond(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else None
    # Compact, as the real server encodes: no spaces after separators.
    body = json.dumps(obj, separators=(",", ":"))
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def _dry_run(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


class Handlers:
    """The stateful CRUD logic over one Store and Registry."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.paginator = Paginator()

    # --- reading ---------------------------------------------------------------------------
    def _existing(self, target: Target) -> dict[str, Any]:
        obj = self.store.get(target.key())
        if obj is None:
            raise not_found(target.rt.group, target.rt.plural, target.name)
        return obj

    async def get(self, request: web.Request, target: Target) -> web.StreamResponse:
        await freshness.ensure_reached(self.store, request)
        obj = self._existing(target)
        if target.subresource == "scale":
            return respond(scale.to_scale(target.rt, obj))
        if tables.wants_table(request):
            return respond(tables.render(target.rt, [obj], request, {"resourceVersion": obj["metadata"]["resourceVersion"]}))
        return respond(codec.view(obj, target.rt))

    def matching(self, request: web.Request, target: Target, *, copies: bool = True) -> list[dict[str, Any]]:
        """Objects the request's selectors match; ``copies=False`` gives the stored ones, read-only."""
        labels = label_selector(request.query.get("labelSelector"))
        fields = field_selector(request.query.get("fieldSelector"), target.rt.selectable_fields)
        objs = self.store.list_refs(codec.storage_group(target.rt), target.rt.plural,
                                    target.namespace if target.rt.namespaced else None)
        found = [o for o in objs if labels(o) and fields(o)]
        return [copy.deepcopy(o) for o in found] if copies else found

    async def list(self, request: web.Request, target: Target) -> web.StreamResponse:
        limit = int(request.query.get("limit") or 0) or None
        token = request.query.get("continue")
        if token:
            page = self.paginator.next(token, limit)
        else:
            await freshness.ensure_reached(self.store, request)
            # The snapshot holds the stored objects (replaced, never mutated, on write); only the
            # page served is copied — a list of 50 out of 10,000 copies 50, as etcd reads 50.
            page = self.paginator.first(self.matching(request, target, copies=False), str(self.store.resource_version), limit)
        meta: dict[str, Any] = {"resourceVersion": page.resource_version}
        if page.continue_token:
            meta["continue"] = page.continue_token
            meta["remainingItemCount"] = page.remaining
        if tables.wants_table(request):  # printers read the stored shape (and never change it)
            return respond(tables.render(target.rt, page.items, request, meta))
        return self._respond_list(target, meta, page.items)

    def _respond_list(self, target: Target, meta: dict[str, Any], items: list[dict[str, Any]]) -> web.Response:
        """The list as ``respond`` would encode it, each item's stored JSON spliced in as it is when the
        version read is the version stored (else seen through ``codec.view``): no copy, no re-encoding."""
        rt = target.rt
        parts = []
        for obj in items:
            if obj.get("apiVersion") == rt.api_version and not codec.is_events_v1(rt):
                meta_ = obj["metadata"]
                parts.append(self.store.stored_json(target.key(meta_["name"], meta_.get("namespace")), obj))
            else:
                parts.append(json.dumps(codec.view(obj, rt), separators=(",", ":")))
        head = json.dumps({"kind": rt.kind + "List", "apiVersion": rt.api_version, "metadata": meta},
                          separators=(",", ":"))
        body = f'{head[:-1]},"items":[{",".join(parts)}]}}'
        return web.Response(body=body, status=200, content_type="application/json")

    # --- creating --------------------------------------------------------------------------
    async def create(self, request: web.Request, target: Target) -> web.StreamResponse:
        body = await _json_body(request)
        obj = versioning.prepare_create(target.rt, body, target.namespace)
        return await self._create_object(request, target, obj)

    async def _create_object(self, request: web.Request, target: Target, obj: dict[str, Any],
                             applied: dict[str, Any] | None = None) -> web.StreamResponse:
        rt, meta = target.rt, obj["metadata"]
        manager = managed.manager_name(request.query, request.headers.get("User-Agent", ""), applied is not None)
        if rt.namespaced:
            self._check_namespace_open(meta["namespace"])
        deletion.refuse_create_while_crd_terminating(rt, self.store)
        obj, warnings = self._admit(request, rt, obj, None)
        if applied is not None:
            managed.record_applied_create(rt, obj, applied, manager)
        else:
            managed.record(rt, None, obj, manager, None)
        key = target.key(meta["name"], meta.get("namespace"))
        if self.store.get_ref(key) is not None:
            raise already_exists(rt.group, rt.plural, meta["name"])
        if (rt.group, rt.plural) == (CRD_GROUP, CRD_PLURAL):
            obj["status"] = crds.crd_status(obj)
        if _dry_run(request):
            return respond(obj, 201, warnings)
        stored = self.store.put(key, codec.storage(obj, rt), "ADDED")
        if (rt.group, rt.plural) == (CRD_GROUP, CRD_PLURAL):
            self.registry.register_crd(stored)
        if (rt.group, rt.plural) == ("", "namespaces"):
            serviceaccounts.ensure_default(self.store, self.registry, meta["name"])
        return respond(codec.view(stored, rt), 201, warnings)

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.store.get_ref(("", "namespaces", "", namespace))
        if ns is None:
            raise not_found("", "namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f"unable to create new content in namespace {namespace} "
                                             "because it is being terminated")

    def _admit(self, request: web.Request, rt: ResourceType, obj: dict[str, Any],
               old: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
        field_validation = request.query.get("fieldValidation", "Warn")
        if (rt.group, rt.plural) == (CRD_GROUP, CRD_PLURAL):
            crds.check_crd(obj)
        if rt.crd is None:
            return builtin.admit(rt, obj, old, field_validation, self._cluster_ips)
        return crds.admit_custom(rt, obj, old, field_validation)

    def _cluster_ips(self) -> list[str]:
        return [ip for svc in self.store.list_refs("", "services", None)
                for ip in (svc.get("spec") or {}).get("clusterIPs") or []]

    # --- updating --------------------------------------------------------------------------
    async def update(self, request: web.Request, target: Target) -> web.StreamResponse:
        body = await _json_body(request)
        old = codec.view(self._existing(target), target.rt)
        if target.subresource == "scale":
            return self._write_scale(request, target, old, body)
        new = versioning.prepare_update(target.rt, old, body, target.subresource, target.name or "")
        return self._store_update(request, target, old, new)

    async def patch(self, request: web.Request, target: Target) -> web.StreamResponse:
        content_type = request.content_type
        body = patch.parse_body(content_type, await request.read())
        old = self.store.get(target.key())
        old = codec.view(old, target.rt) if old is not None else None
        if content_type == patch.APPLY_PATCH:
            return await self._apply(request, target, old, body)
        if old is None:
            raise not_found(target.rt.group, target.rt.plural, target.name)
        if target.subresource == "scale":
            if content_type == patch.STRATEGIC_PATCH:
                content_type = patch.MERGE_PATCH  # a Scale is a built-in type: its patch has no lists to merge
            wanted = patch.apply_patch(content_type, scale.to_scale(target.rt, old), body, target.rt)
            return self._write_scale(request, target, old, wanted)
        base = codec.view(self.store.get(target.key()) or {}, target.rt)  # a second private copy to patch
        patched = patch.apply_patch(content_type, base, body, target.rt)
        new = versioning.prepare_update(target.rt, old, patched, target.subresource, target.name or "")
        return self._store_update(request, target, old, new)

    async def _apply(self, request: web.Request, target: Target, old: dict[str, Any] | None,
                     body: Any) -> web.StreamResponse:
        """Server-side apply (``managed.apply``): create what does not exist, else merge with ownership."""
        if not isinstance(body, dict):
            raise bad_request("the apply configuration must be an object")
        manager = managed.manager_name(request.query, request.headers.get("User-Agent", ""), apply=True)
        if old is None and not target.subresource:
            obj = versioning.prepare_create(target.rt, body, target.namespace)
            if obj["metadata"]["name"] != target.name:
                raise bad_request("the name of the object does not match the name on the URL")
            return await self._create_object(request, target, obj, applied=body)
        if old is None:
            raise not_found(target.rt.group, target.rt.plural, target.name)
        force = request.query.get("force", "").lower() in ("1", "t", "true")
        merged = managed.apply(target.rt, old, body, manager, force, target.subresource)
        owners = merged["metadata"].get("managedFields")
        new = versioning.prepare_update(target.rt, old, merged, target.subresource, target.name or "")
        if owners:
            new["metadata"]["managedFields"] = owners
        return self._store_update(request, target, old, new, manager=None)

    def _write_scale(self, request: web.Request, target: Target, old: dict[str, Any], wanted: Any) -> web.StreamResponse:
        main = dataclasses.replace(target, subresource=None)
        new = versioning.prepare_update(target.rt, old, scale.with_replicas(target.rt, old, wanted), None, target.name or "")
        self._store_update(request, main, old, new)
        stored = self.store.get(target.key()) or new
        return respond(scale.to_scale(target.rt, stored))

    def _store_update(self, request: web.Request, target: Target, old: dict[str, Any],
                      new: dict[str, Any], manager: str | None = "") -> web.StreamResponse:
        """Admit and store an update; ``manager=None`` when ownership was already worked out (apply)."""
        warnings: list[str] = []
        if target.subresource != "status" or target.rt.crd is not None:
            new, warnings = self._admit(request, target.rt, new, old)
        if target.subresource != "status":
            deletion.check_finalizers(target.rt, old, new)
        if (target.rt.group, target.rt.plural) == (CRD_GROUP, CRD_PLURAL) and target.subresource != "status":
            new["status"] = crds.crd_status(new)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _dry_run(request):
            return respond(new, 200, warnings)
        if managed.without_managed_fields(new) == managed.without_managed_fields(old):
            return respond(old, 200, warnings)  # a no-op write does not bump resourceVersion
        if manager is not None:
            name = manager or managed.manager_name(request.query, request.headers.get("User-Agent", ""), False)
            managed.record(target.rt, old, new, name, target.subresource)
        key = target.key()
        if gc.released(new):
            stored = self.store.remove(key)
            self._after_removal(stored, target.rt)
            return respond(codec.view(stored, target.rt), 200, warnings)
        stored = self.store.put(key, codec.storage(new, target.rt), "MODIFIED")
        if (target.rt.group, target.rt.plural) == (CRD_GROUP, CRD_PLURAL):
            self.registry.register_crd(stored)
        return respond(codec.view(stored, target.rt), 200, warnings)

    # --- deleting --------------------------------------------------------------------------
    async def delete(self, request: web.Request, target: Target) -> web.StreamResponse:
        options = await _delete_options(request)
        obj = self._existing(target)
        _check_preconditions(target, obj, options)
        if _dry_run(request):
            return respond(obj)
        result, deleted = self._delete_one(target.key(), obj, target.rt, options)
        if not deleted or target.rt.crd is not None or target.rt.plural == "pods":
            return respond(codec.view(result, target.rt))
        details = {"name": obj["metadata"]["name"], "group": target.rt.group, "kind": target.rt.plural,
                   "uid": obj["metadata"]["uid"]}
        return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})

    def _delete_one(self, key: Key, obj: dict[str, Any], rt: ResourceType,
                    options: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "Background")
        if policy == "Orphan":
            gc.orphan_dependents(self.store, obj["metadata"]["uid"])
        grace = deletion.grace_period(rt, obj, options)
        if (rt.group, rt.plural) == ("", "namespaces"):
            obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
            obj["status"] = {"phase": "Terminating"}
            result, deleted = gc.mark_deleting(self.store, key, obj), False
        elif (rt.group, rt.plural) == (CRD_GROUP, CRD_PLURAL):
            result, deleted = deletion.mark_crd(self.store, key, obj), False
        elif policy == "Foreground":
            result, deleted = deletion.mark_foreground(self.store, key, obj), False
        elif grace > 0:
            result, deleted = deletion.mark_graceful(self.store, key, obj, grace), False
        else:
            result, deleted = gc.delete_or_mark(self.store, key, obj)
        if deleted:
            self._after_removal(result, rt)
        else:
            self._schedule_gc()
        return result, deleted

    async def deletecollection(self, request: web.Request, target: Target) -> web.StreamResponse:
        options = await _delete_options(request)
        objs = self.matching(request, target)
        if not _dry_run(request):
            for obj in objs:
                meta = obj["metadata"]
                self._delete_one(target.key(meta["name"], meta.get("namespace")), obj, target.rt, options)
        return respond({"kind": target.rt.kind + "List", "apiVersion": target.rt.api_version,
                        "metadata": {"resourceVersion": str(self.store.resource_version)},
                        "items": [codec.view(o, target.rt) for o in objs]})

    def _after_removal(self, obj: dict[str, Any], rt: ResourceType) -> None:
        if (rt.group, rt.plural) == (CRD_GROUP, CRD_PLURAL):
            self.registry.unregister_crd(obj)
            group, plural = obj["spec"]["group"], obj["spec"]["names"]["plural"]
            for key, _ in self.store.items():
                if key[:2] == (group, plural):
                    self.store.remove(key)
        self._schedule_gc()

    def _schedule_gc(self) -> None:
        # The garbage collector is asynchronous on a real cluster too; clients must poll for it.
        asyncio.get_running_loop().call_soon(gc.collect, self.store, self.registry)


PROTOBUF = "application/vnd.kubernetes.protobuf"
CBOR = "application/cbor"


def refuse_binary_body(content_type: str) -> None:
    """415 for protobuf and CBOR bodies: the sandbox speaks JSON (client-go falls back to JSON on 415 for
    CBOR, not for protobuf, which kubectl's typed commands send for built-ins)."""
    if content_type.startswith(PROTOBUF) or content_type.startswith(CBOR):
        raise ApiError(415, "UnsupportedMediaType",
                       f"the kuberun sandbox API server speaks JSON only: request bodies in {content_type} are not "
                       "supported (kubectl create namespace|configmap|secret|job send protobuf). Send JSON or YAML "
                       "instead, e.g. `kubectl create configmap NAME --from-literal=k=v --dry-run=client -o yaml | "
                       "kubectl apply -f -` or `kubectl apply -f FILE`")


async def _json_body(request: web.Request) -> Any:
    refuse_binary_body(request.content_type)
    raw = await request.read()
    try:
        return json.loads(raw) if raw else None
    except ValueError as e:
        raise bad_request(f"couldn't get version/kind; json parse error: {e}") from None


async def _delete_options(request: web.Request) -> dict[str, Any]:
    refuse_binary_body(request.content_type)
    raw = await request.read()
    try:
        options: dict[str, Any] = json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        raise bad_request(f"invalid DeleteOptions: {e}") from None
    for name in ("propagationPolicy", "orphanDependents"):
        if name in request.query:
            options[name] = request.query[name] if name == "propagationPolicy" else request.query[name] == "true"
    if "gracePeriodSeconds" in request.query:
        try:
            options["gracePeriodSeconds"] = int(request.query["gracePeriodSeconds"])
        except ValueError:
            raise bad_request(f"gracePeriodSeconds: invalid value {request.query['gracePeriodSeconds']!r}") from None
    if options.get("propagationPolicy") not in (None, "Orphan", "Background", "Foreground"):
        raise bad_request(f"propagationPolicy: Unsupported value: {options['propagationPolicy']!r}: supported values: "
                          '"Orphan", "Background", "Foreground"')
    return options


def _check_preconditions(target: Target, obj: dict[str, Any], options: dict[str, Any]) -> None:
    pre = options.get("preconditions") or {}
    meta = obj["metadata"]
    for field in ("uid", "resourceVersion"):
        if pre.get(field) and pre[field] != meta[field]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(target.rt.plural, target.rt.group)} '
                                            f'"{meta["name"]}": Precondition failed: {field.upper() if field == "uid" else "ResourceVersion"} '
                                            f"in precondition: {pre[field]}, {field} in object meta: {meta[field]}",
                           {"name": meta["name"], "group": target.rt.group, "kind": target.rt.plural})
