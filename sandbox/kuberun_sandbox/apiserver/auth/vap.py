"""ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding (admissionregistration.k8s.io/v1), in CEL.

What is evaluated, as kube-apiserver does: a binding selects its policy by ``policyName``; the
request must match the policy's ``matchConstraints`` and the binding's ``matchResources``
(resource rules with groups, versions, resources incl. ``x/status`` and ``*/status``, operations,
``resourceNames``, exclusions, namespace and object selectors); then ``matchConditions`` must all be
true, ``variables`` are computed in order, and each ``validations[]`` expression must be true.
Variables bound: ``object``, ``oldObject`` (null on create), ``request`` (operation, userInfo,
namespace, name, kind, resource, subResource, dryRun), ``params`` (from the binding's ``paramRef``
by name, null without one), ``namespaceObject`` and ``variables``. An expression that fails to
evaluate follows ``failurePolicy`` (Fail by default: refuse; Ignore: skip). ``validationActions``:
Deny refuses with the validation's ``reason`` (default Invalid, 422) and the real message
``ValidatingAdmissionPolicy 'p' with binding 'b' denied request: ...``; Warn adds a warning; Audit
has no audit log here and is ignored. The ``authorizer`` CEL library is not available.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy

from ..errors import ApiError, qualified
from ..resources import ResourceType
from ..store import Store
from . import selectors
from .authn import UserInfo

G = "admissionregistration.k8s.io"
_CODES = {"Invalid": 422, "Forbidden": 403, "Unauthorized": 401, "RequestEntityTooLarge": 413}


@dataclass(frozen=True)
class Request:
    operation: str  # CREATE | UPDATE
    rt: ResourceType
    subresource: str
    namespace: str
    name: str
    user: UserInfo
    dry_run: bool = False

    def to_cel(self) -> dict[str, Any]:
        rt = self.rt
        return {"operation": self.operation, "userInfo": self.user.to_dict(), "namespace": self.namespace,
                "name": self.name, "subResource": self.subresource, "dryRun": self.dry_run,
                "kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                "resource": {"group": rt.group, "version": rt.version, "resource": rt.plural}}


@lru_cache(maxsize=512)
def _program(expr: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(expr))


def _eval(expr: str, activation: dict[str, Any]) -> Any:
    result = _program(expr).evaluate(activation)
    if isinstance(result, Exception):
        raise result
    return result


def _rule_matches(rule: dict[str, Any], req: Request) -> bool:
    def has(values: list[str] | None, wanted: str) -> bool:
        return "*" in (values or []) or wanted in (values or [])

    resource = f"{req.rt.plural}/{req.subresource}" if req.subresource else req.rt.plural
    resources = rule.get("resources") or []
    resource_ok = ("*" in resources and not req.subresource) or resource in resources or \
        (req.subresource and f"*/{req.subresource}" in resources) or "*/*" in resources
    names = rule.get("resourceNames") or []
    return (has(rule.get("apiGroups"), req.rt.group) and has(rule.get("apiVersions"), req.rt.version)
            and has(rule.get("operations"), req.operation) and bool(resource_ok) and (not names or req.name in names))


def _matches(match: dict[str, Any] | None, req: Request, obj: dict[str, Any], ns_obj: dict[str, Any] | None) -> bool:
    if not match:
        return True
    if match.get("resourceRules") and not any(_rule_matches(r, req) for r in match["resourceRules"]):
        return False
    if any(_rule_matches(r, req) for r in match.get("excludeResourceRules") or []):
        return False
    ns_labels = ((ns_obj or {}).get("metadata") or {}).get("labels")
    if req.rt.namespaced and not selectors.matches(match.get("namespaceSelector"), ns_labels):
        return False
    return selectors.matches(match.get("objectSelector"), (obj.get("metadata") or {}).get("labels"))


def _denial(policy: str, binding: str, req: Request, validation: dict[str, Any], message: str) -> ApiError:
    reason = validation.get("reason") or "Invalid"
    what = qualified(req.rt.plural, req.rt.group)
    text = f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {message}"
    verb = "is invalid: : " if reason == "Invalid" else "is forbidden: "
    return ApiError(_CODES.get(reason, 422), reason, f'{what} "{req.name}" {verb}{text}',
                    {"name": req.name, "group": req.rt.group, "kind": req.rt.plural})


class PolicyEvaluator:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _params(self, policy: dict[str, Any], binding: dict[str, Any], req: Request) -> Any:
        kind, ref = (policy.get("spec") or {}).get("paramKind"), (binding.get("spec") or {}).get("paramRef")
        if not kind or not ref or not ref.get("name"):
            return None
        group = str(kind.get("apiVersion", "")).rpartition("/")[0]
        # Params are looked up by kind across the stored objects of that group (the plural is not in paramKind).
        namespace = ref.get("namespace") or req.namespace
        for key, obj in self.store.items():
            if key[0] == group and obj.get("kind") == kind.get("kind") and obj["metadata"]["name"] == ref["name"] \
                    and (obj["metadata"].get("namespace") or "") in ("", namespace):
                return obj
        if ref.get("parameterNotFoundAction") == "Allow":
            return None
        raise LookupError("no params found for policy binding with `Deny` parameterNotFoundAction")

    def admit(self, req: Request, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
        """Raise the denial of the first failing Deny validation; return Warn messages."""
        warnings: list[str] = []
        ns_obj = self.store.get(("", "namespaces", "", req.namespace)) if req.namespace else None
        for binding in self.store.list_refs(G, "validatingadmissionpolicybindings", None):
            bspec = binding.get("spec") or {}
            policy = self.store.get((G, "validatingadmissionpolicies", "", bspec.get("policyName", "")))
            if policy is None:
                continue
            pspec = policy.get("spec") or {}
            if not _matches(pspec.get("matchConstraints"), req, obj, ns_obj) or \
                    not _matches(bspec.get("matchResources"), req, obj, ns_obj):
                continue
            warnings += self._evaluate(policy, binding, req, obj, old, ns_obj)
        return warnings

    def _evaluate(self, policy: dict[str, Any], binding: dict[str, Any], req: Request, obj: dict[str, Any],
                  old: dict[str, Any] | None, ns_obj: dict[str, Any] | None) -> list[str]:
        pspec, bspec = policy.get("spec") or {}, binding.get("spec") or {}
        pname, bname = policy["metadata"]["name"], binding["metadata"]["name"]
        actions = bspec.get("validationActions") or []
        fail_closed = pspec.get("failurePolicy", "Fail") != "Ignore"
        warnings: list[str] = []
        try:
            params = self._params(policy, binding, req)
            activation: dict[str, Any] = {
                "object": celpy.json_to_cel(obj), "oldObject": celpy.json_to_cel(old),
                "request": celpy.json_to_cel(req.to_cel()), "params": celpy.json_to_cel(params),
                "namespaceObject": celpy.json_to_cel(ns_obj)}
            for cond in pspec.get("matchConditions") or []:
                if not bool(_eval(cond["expression"], activation)):
                    return []
            variables: dict[str, Any] = {}
            for var in pspec.get("variables") or []:
                activation["variables"] = celpy.json_to_cel(variables)
                variables[var["name"]] = _eval(var["expression"], activation)
            activation["variables"] = celpy.celtypes.MapType({celpy.celtypes.StringType(k): v for k, v in variables.items()})
            failures = [v for v in pspec.get("validations") or [] if not bool(_eval(v["expression"], activation))]
        except Exception as e:
            if not fail_closed:
                return []
            failures, message = [{"reason": "Invalid"}], f"expression evaluation failed: {e}"
            if "Deny" in actions:
                raise _denial(pname, bname, req, failures[0], message) from None
            return [f"ValidatingAdmissionPolicy '{pname}' with binding '{bname}': {message}"]
        for validation in failures:
            message = validation.get("message") or f"failed expression: {validation['expression']}"
            if validation.get("messageExpression"):
                with contextlib.suppress(Exception):  # the real server falls back to the static message
                    message = str(_eval(validation["messageExpression"], activation))
            if "Deny" in actions:
                raise _denial(pname, bname, req, validation, message)
            if "Warn" in actions:
                warnings.append(f"Validation failed for ValidatingAdmissionPolicy '{pname}' with binding '{bname}': {message}")
        return warnings
