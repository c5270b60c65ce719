"""``metav1.LabelSelector`` (matchLabels + matchExpressions) as a predicate on labels.

Aggregated ClusterRoles and admission policies' namespace/object selectors use the structured
form; the query-string form lives in ``..selection``. An empty selector matches everything; a
malformed one matches nothing (the real server refuses it at write time).
"""

from __future__ import annotations

from typing import Any


def matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    if selector is None:
        return True
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True
