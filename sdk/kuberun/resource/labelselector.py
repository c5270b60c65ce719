"""``metav1.LabelSelector`` (matchLabels + matchExpressions): the model and its one matcher.

Why here: the operator grants backends to namespaces by label (``allowedNamespaceSelector``)
and the sandbox's API server evaluates the same selectors for aggregated ClusterRoles and
admission policies. One definition serves both layers (the SDK is the one both may import).
No installed library matches the structured form (the Kubernetes client only builds query
strings), so this follows ``k8s.io/apimachinery/pkg/labels``: every requirement must hold;
``In`` needs the key present with one of the values, ``NotIn`` the key absent or with none of
them, ``Exists``/``DoesNotExist`` the key's presence. The model refuses what the API server
refuses (``In``/``NotIn`` without values, ``Exists``/``DoesNotExist`` with values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from kuberun.resource.base import KubeModel


class LabelSelectorRequirement(KubeModel):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_fit_the_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"{self.key}: operator {self.operator} needs values")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"{self.key}: operator {self.operator} takes no values")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        return present if self.operator == "Exists" else not present


class LabelSelector(KubeModel):
    """Every ``matchLabels`` pair and every ``matchExpressions`` requirement must hold; empty matches all."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return (all(labels.get(k) == v for k, v in self.match_labels.items())
                and all(r.matches(labels) for r in self.match_expressions))


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """A selector in its wire form: ``None`` matches everything, a malformed one nothing
    (the API server would have refused it when it was written)."""
    if selector is None:
        return True
    try:
        parsed = LabelSelector.model_validate(selector)
    except ValidationError:
        return False
    return parsed.matches(labels)
