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

from . import builtin_schema, strategic
from .errors import ApiError, bad_request, unsupported_media_type
from .resources import ResourceType

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
CUSTOM_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)

def parse_body(content_type: str, raw: bytes) -> Any:
    try:
        if content_type == APPLY_PATCH:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise bad_request(f"error decoding patch: {e}") from None


def apply_patch(content_type: str, original: dict[str, Any], body: Any, rt: ResourceType) -> dict[str, Any]:
    if content_type == JSON_PATCH:
        return _json_patch(original, body)
    if content_type == MERGE_PATCH:
        return merge_patch(original, body)
    if content_type == STRATEGIC_PATCH:
        if rt.crd is not None:
            # Custom resources have no Go struct tags to merge by: the real server refuses the type.
            raise unsupported_media_type(content_type, CUSTOM_PATCH_TYPES)
        if not isinstance(body, dict):
            raise bad_request("strategic merge patch must be a JSON object")
        name = builtin_schema.definition_name(rt)
        merged: dict[str, Any] = strategic.merge(original, body, builtin_schema.definition(name) if name else None)
        return merged
    raise unsupported_media_type(content_type)


def _json_patch(original: dict[str, Any], ops: Any) -> dict[str, Any]:
    """``original`` is the caller's own copy (handlers.patch decodes one for it): patched in place."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    try:
        return jsonpatch.apply_patch(original, ops, in_place=True)
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
