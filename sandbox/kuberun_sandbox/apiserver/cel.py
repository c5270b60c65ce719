"""``x-kubernetes-validations`` (CEL) rules, evaluated with cel-python (``celpy``).

Rules are attached to schema nodes; each is evaluated with ``self`` bound to the value at that
node and, for transition rules (those mentioning ``oldSelf``), ``oldSelf`` bound to the previous
value — only on update and only where the old value exists, as kube-apiserver does; values an
update leaves unchanged are not re-validated (ratcheting). The
Kubernetes CEL extension libraries (``isSorted``, ``url``, quantity, ...) are not available.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from typing import Any

import celpy

from .errors import Cause
from .schema import field_path

_MISSING = object()
_REASONS = {
    "FieldValueInvalid": "Invalid value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
}


@lru_cache(maxsize=512)
def _program(rule: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _evaluate(rule: str, self_value: Any, old_value: Any) -> Any:
    activation: dict[str, Any] = {"self": celpy.json_to_cel(self_value)}
    if old_value is not _MISSING:
        activation["oldSelf"] = celpy.json_to_cel(old_value)
    result = _program(rule).evaluate(activation)
    if isinstance(result, Exception):  # celpy may return, not raise, evaluation errors
        raise result
    return result


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return '"' + str(value) + '"' if isinstance(value, str) else str(value).lower()


def _check_rules(schema: dict[str, Any], value: Any, old: Any, path: list[str | int]) -> list[Cause]:
    causes: list[Cause] = []
    for rule in schema.get("x-kubernetes-validations") or []:
        expr = rule["rule"]
        if "oldSelf" in expr and old is _MISSING:
            continue  # transition rules only run when there is an old value
        try:
            ok = bool(_evaluate(expr, value, old))
        except Exception as e:  # an evaluation error is reported as a failed rule, like the server
            causes.append(Cause(field_path(path), f"Invalid value: {_shown(value)}: {e} evaluating rule: {expr}"))
            continue
        if ok:
            continue
        causes.append(_failure(rule, value, old, path))
    return causes


def _failure(rule: dict[str, Any], value: Any, old: Any, path: list[str | int]) -> Cause:
    message = rule.get("message") or f"failed rule: {rule['rule']}"
    if rule.get("messageExpression"):
        # The server falls back to the static message when the expression fails.
        with contextlib.suppress(Exception):
            message = str(_evaluate(rule["messageExpression"], value, old))
    where = field_path(path)
    if rule.get("fieldPath"):
        where = (where + rule["fieldPath"]) if rule["fieldPath"].startswith(".") else rule["fieldPath"]
        where = where.lstrip(".")
    reason = rule.get("reason", "FieldValueInvalid")
    label = _REASONS.get(reason, "Invalid value")
    text = f"{label}: {_shown(value)}: {message}" if reason == "FieldValueInvalid" else f"{label}: {message}"
    return Cause(where, text, reason)


def validate_rules(schema: dict[str, Any], value: Any, old: Any = _MISSING,
                   path: list[str | int] | None = None) -> list[Cause]:
    """Evaluate every CEL rule in ``schema`` against ``value`` (and ``old`` on update)."""
    path = path or []
    if old is not _MISSING and value == old:
        # Validation ratcheting (kube-apiserver, on by default since 1.30): a value unchanged by an
        # update is not judged again — so a status write does not re-run every rule on the spec.
        return []
    causes = _check_rules(schema, value, old, path)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, sub in value.items():
            sub_schema = props.get(key) or (additional if isinstance(additional, dict) else None)
            if sub_schema is None:
                continue
            sub_old = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
            causes += validate_rules(sub_schema, sub, sub_old, [*path, key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        old_items = _correlate(schema, old)
        for i, item in enumerate(value):
            sub_old = old_items.get(_item_key(schema, item), _MISSING) if old_items else _MISSING
            causes += validate_rules(schema["items"], item, sub_old, [*path, i])
    return causes


def _item_key(schema: dict[str, Any], item: Any) -> Any:
    keys = schema.get("x-kubernetes-list-map-keys") or []
    return tuple(item.get(k) for k in keys) if isinstance(item, dict) else None


def _correlate(schema: dict[str, Any], old: Any) -> dict[Any, Any]:
    """Old list items are matched to new ones only for map-type lists (by their keys)."""
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(old, list):
        return {}
    return {_item_key(schema, item): item for item in old}


def root_rules(schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    old_body: Any = {k: v for k, v in old.items() if k not in ("apiVersion", "kind")} if old else _MISSING
    return validate_rules(schema, body, old_body)
