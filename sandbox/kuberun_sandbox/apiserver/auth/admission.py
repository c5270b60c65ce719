"""Validating admission after the emulator's own schema checks: Pod Security, then the policies.

kube-apiserver runs mutating admission, then schema validation, then validating admission; the
emulator has no mutating webhooks, so validating admission runs right after ``Handlers._admit``
(defaulting, pruning, schema and CRD CEL rules) on the object about to be stored — for creates,
updates, patches and server-side apply alike. ``AdmittingHandlers`` is the one seam: the server
builds it in place of ``Handlers``. The request's user comes from the authentication step
(``request[USER_KEY]``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..handlers import Handlers
from ..resources import ResourceType
from . import podsecurity
from .authn import ANONYMOUS, UserInfo
from .vap import PolicyEvaluator, Request

USER_KEY: web.RequestKey[UserInfo] = web.RequestKey("kuberun.auth.user", UserInfo)
ATTRS_KEY: web.RequestKey[Any] = web.RequestKey("kuberun.auth.attributes", object)


class AdmittingHandlers(Handlers):
    """``Handlers`` whose admission step ends with Pod Security and ValidatingAdmissionPolicies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policies = PolicyEvaluator(self.store)

    def _admit(self, request: web.Request, rt: ResourceType, obj: dict[str, Any],
               old: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
        obj, warnings = super()._admit(request, rt, obj, old)
        return obj, warnings + self.validate(request, rt, obj, old)

    def validate(self, request: web.Request, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
        attrs = request.get(ATTRS_KEY)
        user = request.get(USER_KEY) or ANONYMOUS
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "" if rt.namespaced else ""
        warnings: list[str] = []
        subresource = attrs.subresource if attrs is not None else ""
        if (rt.group, rt.plural) == ("", "pods") and not subresource:
            ns_obj = self.store.get(("", "namespaces", "", namespace))
            warnings += podsecurity.admit(ns_obj, obj, old)
        req = Request("CREATE" if old is None else "UPDATE", rt, subresource, namespace, meta.get("name", ""), user,
                      "All" in request.query.getall("dryRun", []))
        warnings += self.policies.admit(req, obj, old)
        return warnings
