"""Server-owned metadata: uid, creationTimestamp, generation, resourceVersion checks, status split."""

from __future__ import annotations

import datetime
import random
import uuid
from typing import Any

from . import codec, rules
from .errors import Cause, bad_request, invalid, stale_conflict
from .resources import ResourceType

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the server's: no vowels, no look-alikes
_SERVER_FIELDS = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "resourceVersion")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name_causes(rt: ResourceType, name: str) -> list[Cause]:
    # Custom resources too: their names are DNS-1123 subdomains on a real server (``Bad_Name`` is 422).
    return rules.name_causes(rt, name)


def _check_namespace(rt: ResourceType, meta: dict[str, Any], url_namespace: str | None) -> None:
    if not rt.namespaced:
        meta.pop("namespace", None)
        return
    if meta.get("namespace") and url_namespace and meta["namespace"] != url_namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    if not url_namespace:
        raise bad_request("the server could not find the requested resource: a namespace is required")
    meta["namespace"] = url_namespace


def _check_type(rt: ResourceType, body: dict[str, Any]) -> None:
    if body.get("apiVersion", rt.api_version) != rt.api_version or body.get("kind", rt.kind) != rt.kind:
        raise bad_request(f"the API version in the data ({body.get('apiVersion')}) does not match the expected "
                          f"API version ({rt.api_version})" if body.get("apiVersion") != rt.api_version else
                          f"the kind in the data ({body.get('kind')}) does not match the expected kind ({rt.kind})")
    body["apiVersion"], body["kind"] = rt.api_version, rt.kind


def prepare_create(rt: ResourceType, body: Any, url_namespace: str | None) -> dict[str, Any]:
    """The object as it will be stored, before schema checks (raises 400/422 on bad metadata)."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON object")
    obj = codec.clone(body)
    _check_type(rt, obj)
    meta = obj.setdefault("metadata", {})
    _check_namespace(rt, meta, url_namespace)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + "".join(random.choices(_GENERATE_ALPHABET, k=5))
    if not meta.get("name"):
        raise invalid(rt.group, rt.kind, "", [Cause("metadata.name", "Required value: name or generateName is required",
                                                     "FieldValueRequired")])
    causes = _name_causes(rt, meta["name"])
    if causes:
        raise invalid(rt.group, rt.kind, meta["name"], causes)
    for key in (*_SERVER_FIELDS, "selfLink", "managedFields"):
        meta.pop(key, None)
    meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
    if rt.has_status:
        obj.pop("status", None)  # create ignores status when the status subresource exists
    return obj


def _desired_state(obj: dict[str, Any]) -> dict[str, Any]:
    """What ``generation`` tracks: everything but metadata and status (i.e. spec, data, ...)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def prepare_update(rt: ResourceType, old: dict[str, Any], new: Any, subresource: str | None,
                   url_name: str) -> dict[str, Any]:
    """Merge an update into the stored object per the server's rules; raises 409 on a stale RV."""
    if not isinstance(new, dict):
        raise bad_request("the body of the request must be a JSON object")
    new = codec.clone(new)
    _check_type(rt, new)
    meta = new.setdefault("metadata", {})
    old_meta = old["metadata"]
    if meta.get("resourceVersion") and meta["resourceVersion"] != old_meta["resourceVersion"]:
        raise stale_conflict(rt.group, rt.plural, url_name)
    if meta.get("name", url_name) != url_name:
        raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({url_name})")
    if rt.namespaced and meta.get("namespace", old_meta["namespace"]) != old_meta["namespace"]:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    if subresource == "status":
        result = codec.clone(old)
        if "status" in new:
            result["status"] = new["status"]
        else:
            result.pop("status", None)
        return result
    for key in _SERVER_FIELDS:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    meta["name"] = url_name
    if rt.namespaced:
        meta["namespace"] = old_meta["namespace"]
    meta.pop("managedFields", None)
    if rt.has_status:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if _desired_state(new) != _desired_state(old):
        meta["generation"] = int(old_meta.get("generation", 1)) + 1
    return new
