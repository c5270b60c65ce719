"""Admission of built-in kinds: decode, default, validate — in the order kube-apiserver runs them.

``builtin_schema`` decodes (types, unknown fields, required fields, from the official schemas),
``defaults`` fills what the server fills, ``rules`` and ``immutable`` are the hand-written checks.
Every failure is one 422 ``Invalid`` Status listing all causes, or the 400 a decoder gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import builtin_schema, defaults, immutable, rules
from .errors import invalid
from .resources import ResourceType


def admit(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, field_validation: str,
          used_cluster_ips: Callable[[], Iterable[str]]) -> tuple[dict[str, Any], list[str]]:
    """The object as stored, and the warnings to send; raises ApiError (400/422) when refused."""
    obj, warnings, causes = builtin_schema.check(rt, obj, field_validation)
    rules.check_decodable(rt, obj)
    if old is None:
        defaults.on_create(rt, obj, used_cluster_ips)
    else:
        defaults.common(rt, obj)
        defaults.keep_allocated(rt, obj, old)
    causes += rules.validate(rt, obj)
    if old is not None:
        causes += immutable.causes(rt, obj, old)
    if causes:
        raise invalid(rt.group, rt.kind, obj.get("metadata", {}).get("name", ""), causes)
    return obj, warnings
