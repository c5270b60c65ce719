"""Generate the Experiment CRD from the pydantic models (`kuberun crd`, `make crds`).

Pydantic's JSON schema is turned into a Kubernetes *structural* schema: references inlined,
optional unions collapsed, free-form maps marked `x-kubernetes-preserve-unknown-fields`, and the
rules that JSON schema cannot say added as CEL `x-kubernetes-validations`.
"""

from __future__ import annotations

from typing import Any

import yaml

from kuberun.resource.constants import (
    CATEGORIES,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
)
from kuberun.resource.executors import BACKENDS
from kuberun.resource.spec import ExperimentSpec
from kuberun.resource.status import ExperimentStatus

_KEEP = {
    "type", "properties", "required", "items", "enum", "format", "description", "pattern",
    "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "additionalProperties",
    "maxProperties",
}
_SPEC_MUTABLE = {"shutdown", "suspend", "cancelTasks"}


class SchemaError(ValueError):
    """The models use a construct that has no structural-schema form."""


def structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """One pydantic JSON-schema node as a structural OpenAPI v3 node."""
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return structural(merged, defs)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(options) != 1:
            raise SchemaError(f"union without a structural form: {schema}")
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        return structural({**options[0], **rest}, defs)
    if "patternProperties" in schema or "propertyNames" in schema:
        return _keyed_map(schema, defs)
    out: dict[str, Any] = {}
    if "const" in schema:
        out["enum"] = [schema["const"]]
    for key, value in schema.items():
        if key not in _KEEP:
            continue
        if key == "properties":
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif value is not False:
                out[key] = structural(value, defs)
        else:
            out[key] = value
    if "type" not in out and "enum" in out:
        out["type"] = "string"
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "type" not in out:
        raise SchemaError(f"schema node without a type: {schema}")
    return out


def _keyed_map(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A map whose keys are constrained (env var names) as a structural schema: the values' schema becomes
    ``additionalProperties`` (structural schemas have no ``patternProperties``/``propertyNames``).

    The key rule is not restated as CEL: a ``self.all(k, k.matches(...))`` over a map has, to the API
    server's static cost estimator, keys as long as a whole request, and would push the CRD past its CEL
    budget. The SDK checks keys before anything is created, and the API server checks env names again
    when the operator creates the Job, which then fails the task with the server's message (``InvalidJob``).
    """
    patterns = schema.get("patternProperties", {})
    if len(patterns) > 1:
        raise SchemaError(f"map with several key patterns has no structural form: {schema}")
    values = next(iter(patterns.values())) if patterns else schema.get("additionalProperties", {})
    rest = {k: v for k, v in schema.items() if k not in ("patternProperties", "propertyNames")}
    return structural({**rest, "additionalProperties": values}, defs)


def _model_schema(model: type) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True)  # type: ignore[attr-defined]
    return structural(raw, raw.get("$defs", {}))


def _immutable_rule(field: str, required: bool) -> dict[str, str]:
    rule = (
        f"self.{field} == oldSelf.{field}" if required
        else f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})"
    )
    return {"rule": rule, "message": f"spec.{field} is immutable: only shutdown, suspend and cancelTasks may change"}


def spec_rules(spec_schema: dict[str, Any]) -> list[dict[str, str]]:
    """CEL rules on `spec`: immutability, graph consistency, shutdown escalation."""
    required = set(spec_schema.get("required", []))
    rules = [
        _immutable_rule(name, name in required)
        for name in spec_schema["properties"] if name not in _SPEC_MUTABLE
    ]
    rules += [
        {
            "rule": "!has(oldSelf.shutdown) || (has(self.shutdown) && (self.shutdown == oldSelf.shutdown || self.shutdown == 'Terminate'))",
            "message": "spec.shutdown cannot be withdrawn; it may only escalate from Stop to Terminate",
        },
    ]
    # Unique task names are the list type's job (x-kubernetes-list-type: map, keyed by name: no CEL
    # cost). The task graph — dependsOn naming other tasks, no cycles — is not restated as CEL: over
    # MAX_TASKS tasks of MAX_DEPENDENCIES each it is cubic, and a real API server refuses a CRD whose
    # rules' estimated cost is over budget. The SDK checks it before submitting; the operator's
    # strict decode rejects a bad graph with an InvalidSpec condition and Event (docs/scale.md).
    return rules




def _exactly_one(fields: list[str], what: str) -> dict[str, str]:
    count = " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in fields)
    return {"rule": f"{count} == 1", "message": f"exactly one of {', '.join(fields)} is required ({what})"}


def openapi_schema() -> dict[str, Any]:
    """The `openAPIV3Schema` of the Experiment CRD."""
    spec = _model_schema(ExperimentSpec)
    spec["x-kubernetes-validations"] = spec_rules(spec)
    task = spec["properties"]["tasks"]["items"]
    task["x-kubernetes-validations"] = [_exactly_one(["fiddle", "script"], "task payload")]
    tasks = spec["properties"]["tasks"]
    tasks["x-kubernetes-list-type"], tasks["x-kubernetes-list-map-keys"] = "map", ["name"]
    cancels = spec["properties"]["cancelTasks"]
    cancels["x-kubernetes-list-type"], cancels["x-kubernetes-list-map-keys"] = "map", ["task"]
    task["properties"]["dependsOn"]["x-kubernetes-list-type"] = "set"
    task["properties"]["executor"]["x-kubernetes-validations"] = [_exactly_one(list(BACKENDS), "executor")]
    fiddle = task["properties"]["fiddle"]
    fiddle["x-kubernetes-validations"] = [_exactly_one(["data", "configMapRefs"], "config location")]
    script = task["properties"]["script"]
    script["x-kubernetes-validations"] = [_exactly_one(["command", "inline"], "script form")]
    return {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": _model_schema(ExperimentStatus),
        },
    }


PRINTER_COLUMNS = [
    {"name": "Title", "type": "string", "jsonPath": ".spec.title"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Tasks", "type": "string", "jsonPath": ".status.progress", "description": "done/total tasks"},
    {"name": "Submitter", "type": "string", "jsonPath": ".spec.submittedBy", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def build_crd() -> dict[str, Any]:
    """The Experiment CustomResourceDefinition as a dict."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": CATEGORIES,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def crd_yaml() -> str:
    header = "# Generated from the kuberun SDK models by `make crds` (kuberun crd). Do not edit.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=120)
