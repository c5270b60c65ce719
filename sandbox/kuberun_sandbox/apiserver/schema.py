"""Structural-schema handling for custom resources: pruning, defaulting, openAPIV3Schema validation.

Validation itself is ``jsonschema`` (Draft 4 is the closest dialect to OpenAPI 3.0's schema
object); this module only translates the Kubernetes extensions (``nullable``,
``x-kubernetes-int-or-string``, ``x-kubernetes-preserve-unknown-fields``) and renders errors the
way kube-apiserver does (``spec.x in body should match '...'``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import jsonschema

from . import formats
from .errors import Cause

_ROOT_KEYS = ("apiVersion", "kind", "metadata")


def prune(obj: Any, schema: dict[str, Any], root: bool = False) -> Any:
    """Drop fields the schema does not declare, unless it preserves unknown fields."""
    if isinstance(obj, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        for key in list(obj):
            if root and key in _ROOT_KEYS:
                continue
            if key in props:
                obj[key] = prune(obj[key], props[key])
            elif isinstance(additional, dict):
                obj[key] = prune(obj[key], additional)
            elif not preserve and additional is not True:
                del obj[key]
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"]) for item in obj]
    return obj


def apply_defaults(obj: Any, schema: dict[str, Any]) -> Any:
    """Fill ``default`` values of absent properties, recursively (as the server does on decode)."""
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                obj[key] = apply_defaults(obj[key], sub)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in [k for k in obj if k not in (schema.get("properties") or {})]:
                obj[key] = apply_defaults(obj[key], additional)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"]) for item in obj]
    return obj


def _to_json_schema(schema: Any) -> Any:
    """OpenAPI 3.0 + Kubernetes extensions -> plain JSON Schema (Draft 4)."""
    if isinstance(schema, list):
        return [_to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _to_json_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    out.pop("nullable", None)
    out.pop("default", None)
    out.pop("example", None)
    if isinstance(schema.get("properties"), dict):  # property *names* must not be translated
        out["properties"] = {k: _to_json_schema(v) for k, v in schema["properties"].items()}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> jsonschema.Draft4Validator:
    schema = _to_json_schema(json.loads(schema_json))
    root_props = schema.get("properties") or {}
    schema["properties"] = {k: v for k, v in root_props.items() if k not in _ROOT_KEYS}
    return jsonschema.Draft4Validator(schema, format_checker=formats.checker)


def field_path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _go_value(value: Any) -> str:
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), "object")


def _message(kw: str, where: str, v: Any, inst: Any) -> str:
    """kube-openapi's text for one failed keyword (``k8s.io/kube-openapi/pkg/validation/errors``)."""
    if kw == "type":
        wanted = v if isinstance(v, str) else next((t for t in v if t != "null"), "object")
        return f'{where} in body must be of type {wanted}: "{_json_type(inst)}"'
    if kw == "format":
        return f"{where} in body must be of type {v}: {json.dumps(inst)}"
    templates = {
        "pattern": "{w} in body should match '{v}'",
        "maximum": "{w} in body should be less than or equal to {v}",
        "minimum": "{w} in body should be greater than or equal to {v}",
        "exclusiveMaximum": "{w} in body should be less than {v}",
        "exclusiveMinimum": "{w} in body should be greater than {v}",
        "multipleOf": "{w} in body should be a multiple of {v}",
        "minLength": "{w} in body should be at least {v} chars long",
        "minItems": "{w} in body should have at least {v} items",
        "minProperties": "{w} in body should have at least {v} properties",
        "uniqueItems": "{w} in body shouldn't contain duplicates",
    }
    template = templates.get(kw)
    return template.format(w=where, v=v) if template else f"{where} in body is invalid: {kw}"


def _cause(error: jsonschema.ValidationError) -> Cause:
    """One jsonschema error as kube-apiserver's field error (``kubeOpenAPIResultToFieldErrors``)."""
    path = field_path(error.absolute_path)
    where = path or "<root>"
    v, inst, kw = error.validator_value, error.instance, error.validator
    if kw == "required":
        missing = next((p for p in v if isinstance(inst, dict) and p not in inst), str(v))
        return Cause(field_path([*error.absolute_path, missing]), "Required value", "FieldValueRequired")
    if kw == "enum":
        supported = ", ".join(json.dumps(x) for x in v)
        return Cause(path, f"Unsupported value: {json.dumps(inst)}: supported values: {supported}",
                     "FieldValueNotSupported")
    if kw == "maxLength":
        return Cause(path, f"Too long: may not be more than {v} {'byte' if v == 1 else 'bytes'}", "FieldValueTooLong")
    if kw in ("maxItems", "maxProperties"):
        actual = len(inst) if isinstance(inst, (list, dict)) else -1
        return Cause(path, f"Too many: {actual}: must have at most {v} {'item' if v == 1 else 'items'}",
                     "FieldValueTooMany")
    if kw in ("minItems", "minProperties"):
        shown = str(len(inst)) if isinstance(inst, (list, dict)) else _go_value(inst)
    else:
        shown = f'"{_json_type(inst)}"' if kw == "type" else _go_value(inst)
    reason = "FieldValueTypeInvalid" if kw in ("type", "format") else "FieldValueInvalid"
    return Cause(path, f"Invalid value: {shown}: {_message(kw, where, v, inst)}", reason)


def validate(obj: dict[str, Any], schema: dict[str, Any]) -> list[Cause]:
    """Schema violations of ``obj`` (root apiVersion/kind/metadata are the server's, not the CRD's)."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    body = {k: v for k, v in obj.items() if k not in _ROOT_KEYS}
    errors = sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    return [_cause(e) for e in errors]
