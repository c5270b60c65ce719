"""PATCH bodies: JSON patch (``jsonpatch``), JSON merge patch, strategic merge patch, apply patch.

Strategic merge is implemented for what ``kubectl apply``/``patch`` send to built-ins: lists of
objects are merged by their merge key (``name`` for containers/env/volumes/..., ``containerPort``,
``type`` for conditions, ``uid`` for ownerReferences); ``$patch: delete|replace`` and
``$deleteFromPrimitiveList`` are honoured; other ``$`` directives (``$setElementOrder``,
``$retainKeys``) are dropped. Server-side apply (``application/apply-patch+yaml``) is treated as
create-or-merge without field management (``managedFields`` are not tracked, so no apply
conflicts are ever reported).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import yaml

from .errors import ApiError, bad_request, unsupported_media_type

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Merge keys of the list fields kubectl touches on built-in kinds (from the types' patchMergeKey tags).
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "name", "imagePullSecrets": "name", "envFrom": None,
    "ports": "containerPort", "conditions": "type", "ownerReferences": "uid", "tolerations": None,
    "hostAliases": "ip", "volumeDevices": "devicePath",
}


def parse_body(content_type: str, raw: bytes) -> Any:
    try:
        if content_type == APPLY_PATCH:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise bad_request(f"error decoding patch: {e}") from None


def apply_patch(content_type: str, original: dict[str, Any], body: Any) -> dict[str, Any]:
    if content_type == JSON_PATCH:
        return _json_patch(original, body)
    if content_type == MERGE_PATCH:
        return merge_patch(original, body)
    if content_type in (STRATEGIC_PATCH, APPLY_PATCH):
        return strategic_merge(original, body)
    raise unsupported_media_type(content_type)


def _json_patch(original: dict[str, Any], ops: Any) -> dict[str, Any]:
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    try:
        return jsonpatch.apply_patch(original, ops)
    except jsonpatch.JsonPatchTestFailed as e:
        # A real server answers 422 here; kopf relies on it to re-read instead of retrying blindly.
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {e}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {e}") from None


def merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(original: Any, patch: Any, field: str = "") -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [x for x in result.get(name, []) if x not in value]
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list) and _MERGE_KEYS.get(key):
            result[key] = _merge_list(result[key], value, _MERGE_KEYS[key])
        else:
            result[key] = strategic_merge(result.get(key), value, key)
    return result


def _merge_list(original: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            continue
        index = next((i for i, x in enumerate(result) if isinstance(x, dict) and x.get(merge_key) == item[merge_key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(strategic_merge({}, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result
