"""``metav1.LabelSelector`` matching, case by case as ``k8s.io/apimachinery/pkg/labels`` decides it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kuberun.resource.labelselector import LabelSelector, matches

LABELS = {"team": "a", "tier": "prod", "gpu": ""}

# (selector, labels, matches?)
CASES = {
    "empty matches everything": ({}, {}, True),
    "matchLabels equal": ({"matchLabels": {"team": "a"}}, LABELS, True),
    "matchLabels other value": ({"matchLabels": {"team": "b"}}, LABELS, False),
    "matchLabels missing key": ({"matchLabels": {"owner": "x"}}, LABELS, False),
    "matchLabels empty value present": ({"matchLabels": {"gpu": ""}}, LABELS, True),
    "In with the value": ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["dev", "prod"]}]}, LABELS, True),
    "In without the key": ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]}, LABELS, False),
    "NotIn with another value": ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]}]}, LABELS, True),
    "NotIn with the value": ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["prod"]}]}, LABELS, False),
    "NotIn without the key": ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["x"]}]}, LABELS, True),
    "Exists": ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, LABELS, True),
    "Exists absent": ({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, LABELS, False),
    "DoesNotExist": ({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, LABELS, True),
    "DoesNotExist present": ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, LABELS, False),
    "all terms must hold": ({"matchLabels": {"team": "a"},
                             "matchExpressions": [{"key": "tier", "operator": "In", "values": ["dev"]}]}, LABELS, False),
}


@pytest.mark.parametrize(("selector", "labels", "expected"), CASES.values(), ids=CASES.keys())
def test_selector_matches_as_kubernetes_does(selector, labels, expected):
    assert LabelSelector.model_validate(selector).matches(labels) is expected
    assert matches(selector, labels) is expected


MALFORMED = {
    "In without values": {"matchExpressions": [{"key": "k", "operator": "In"}]},
    "Exists with values": {"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]},
    "unknown operator": {"matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]},
    "unknown field": {"matchLabel": {"k": "v"}},
}


@pytest.mark.parametrize("selector", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_selector_is_refused_by_the_model_and_matches_nothing_on_the_wire(selector):
    with pytest.raises(ValidationError):
        LabelSelector.model_validate(selector)
    assert matches(selector, {"k": "v"}) is False


def test_no_selector_matches_everything_on_the_wire():
    assert matches(None, None) is True
