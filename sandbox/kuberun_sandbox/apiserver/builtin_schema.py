"""Built-in kinds checked against the official Kubernetes OpenAPI schemas, as the real decoder would.

Why schemas and not hand-written types: the ``kubernetes-validate`` package ships the JSON schemas
that Kubernetes' own OpenAPI document generates, per release, with the strategic-merge extensions
(``x-kubernetes-patch-merge-key``/``-strategy``) kept. They are loaded lazily, once (about 1 MB of
JSON for the release this server reports in ``/version``), and one validator per kind is cached.

What a failure means follows the real server, which decodes JSON into Go structs before it
validates: a value of the wrong type is a *decode* error (400, ``Pod in version "v1" cannot be
handled as a Pod: ...``); a field the type does not have is dropped, and reported according to
``fieldValidation`` (Strict: 400 ``strict decoding error``; Warn: a warning; Ignore: nothing); a
missing required field is a *validation* error (422, ``Required value``).
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import threading
from typing import Any

import fastjsonschema
import jsonschema
import referencing
import referencing.jsonschema

from .errors import ApiError, Cause
from .resources import ResourceType
from .schema import field_path

SCHEMA_VERSION = "1.32.0"
"""The Kubernetes release whose schemas are used: the one ``/version`` reports (discovery.VERSION)."""


@functools.lru_cache(maxsize=1)
def _definitions() -> dict[str, Any]:
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    text = (root / f"v{SCHEMA_VERSION}-local-strict" / "_definitions.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


@functools.lru_cache(maxsize=1)
def _by_gvk() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in _definitions()["$defs"].items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


def definition_name(rt: ResourceType) -> str | None:
    """``io.k8s.api.batch.v1.Job`` for batch/v1 Job; None for kinds without a published schema."""
    if rt.crd is not None:
        return None
    return _by_gvk().get((rt.group, rt.version, rt.kind))


def definition(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = _definitions()["$defs"][name]
    return schema


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/...``) to the schema it names."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return definition(ref[len("#/$defs/"):])
    return schema


@functools.lru_cache(maxsize=128)
def _validator(name: str) -> jsonschema.protocols.Validator:
    defs = _definitions()
    resource = referencing.Resource.from_contents(defs, default_specification=referencing.jsonschema.DRAFT202012)
    registry: referencing.Registry[Any] = referencing.Registry().with_resource("urn:k8s-defs", resource)
    schema = {"$schema": defs["$schema"], "$ref": f"urn:k8s-defs#/$defs/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


# Compiled at server start on a thread (``warm``): Pod takes about a second even on an idle machine,
# and compiled on first use it held the event loop (every request, every watch) that long.
WARM = ("io.k8s.api.core.v1.Pod", "io.k8s.api.batch.v1.Job")
_compiled: dict[str, Any] = {}
_warming: set[str] = set()
_warm_lock = threading.Lock()


def warm() -> None:
    """Compile the fast validators of ``WARM`` off the event loop (once per process)."""
    with _warm_lock:
        names = [n for n in WARM if n not in _compiled and n not in _warming]
        _warming.update(names)
    if names:
        threading.Thread(target=_compile_all, args=(names,), name="schema-warm", daemon=True).start()


def _compile_all(names: list[str]) -> None:
    for name in names:
        try:
            _compiled[name] = _compile(name)
        finally:
            _warming.discard(name)


def _compile(name: str) -> Any:
    return fastjsonschema.compile({"$defs": _definitions()["$defs"], "$ref": f"#/$defs/{name}"})


def _fast(name: str) -> Any | None:
    """The compiled validator; None while the warm-up thread is still compiling it."""
    fast = _compiled.get(name)
    if fast is None and name not in _warming:
        fast = _compiled[name] = _compile(name)  # compiled once per kind (0.02-0.4 s for the rest)
    return fast


def _valid(name: str, obj: dict[str, Any]) -> bool:
    fast = _fast(name)
    if fast is None:  # not compiled yet: the reference validator decides (under a millisecond a Pod)
        return next(iter(_validator(name).iter_errors(obj)), None) is None
    try:
        fast(obj)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """The innermost errors of a ``oneOf``/``anyOf`` (int-or-string, quantities)."""
    if error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), "value")


def _go_type(schema: Any) -> str:
    types = schema.get("type") if isinstance(schema, dict) else None
    wanted = [t for t in (types if isinstance(types, list) else [types]) if t and t != "null"]
    return {"integer": "int", "number": "float64", "boolean": "bool", "object": "map", "array": "slice"}.get(
        wanted[0] if wanted else "", wanted[0] if wanted else "value")


def check(rt: ResourceType, obj: dict[str, Any], field_validation: str) -> tuple[dict[str, Any], list[str], list[Cause]]:
    """Decode-and-validate ``obj``: returns (object without unknown fields, warnings, required-field causes).

    Raises 400 for type errors and, with ``fieldValidation=Strict``, for unknown fields.
    """
    name = definition_name(rt)
    if name is None or _valid(name, obj):
        return obj, [], []
    errors = list(_validator(name).iter_errors(obj))
    unknown: list[list[str | int]] = []
    required: list[Cause] = []
    decode: list[str] = []
    for error in errors:
        for leaf in _leaves(error):
            path = list(leaf.absolute_path)
            if leaf.validator == "additionalProperties" and leaf.validator_value is False:
                allowed = leaf.schema.get("properties") or {}
                unknown += [[*path, key] for key in leaf.instance if key not in allowed]
            elif leaf.validator == "required":
                for missing in leaf.validator_value:
                    if isinstance(leaf.instance, dict) and missing not in leaf.instance:
                        required.append(Cause(field_path([*path, missing]), "Required value", "FieldValueRequired"))
            elif leaf.validator in ("type", "oneOf", "anyOf"):
                decode.append(f"json: cannot unmarshal {_json_type(leaf.instance)} into Go struct field "
                              f"{rt.kind}.{field_path(path)} of type {_go_type(leaf.schema)}")
            elif leaf.validator == "enum" and path[-1:] not in (["apiVersion"], ["kind"]):
                supported = ", ".join(json.dumps(v) for v in leaf.validator_value)
                required.append(Cause(field_path(path), f"Unsupported value: {json.dumps(leaf.instance)}: "
                                                        f"supported values: {supported}", "FieldValueNotSupported"))
    if decode:
        raise ApiError(400, "BadRequest", f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                                          f"{decode[0]}")
    unknown = sorted(unknown, key=lambda p: [str(x) for x in p])
    paths = [field_path(p) for p in unknown]
    if paths and field_validation == "Strict":
        raise ApiError(400, "BadRequest", "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in paths))
    warnings = [f'unknown field "{p}"' for p in paths] if field_validation != "Ignore" else []
    if unknown:
        obj = copy.deepcopy(obj)
        for p in unknown:
            _drop(obj, p)
    return obj, warnings, _dedupe(required)


def _drop(obj: Any, path: list[str | int]) -> None:
    for part in path[:-1]:
        obj = obj[part]
    if isinstance(obj, dict):
        obj.pop(path[-1], None)


def _dedupe(causes: list[Cause]) -> list[Cause]:
    seen: dict[tuple[str, str], Cause] = {}
    for c in causes:
        seen.setdefault((c.field, c.message), c)
    return list(seen.values())
