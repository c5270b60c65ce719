"""The sandbox enforces the chart's own operator RBAC and submitter policy: its data files equal the render."""

from __future__ import annotations

import pytest
import yaml

from tests.helm.chart import HELM, render
from tests.helm.sandbox_data import DATA, generated, operator_rules

pytestmark = pytest.mark.skipif(not HELM.exists(), reason="helm is installed by .ci/install-helm.sh")


@pytest.mark.parametrize("name", ["operator-rbac.yaml", "submitter-policy.yaml"])
def test_sandbox_data_matches_the_rendered_chart(name):
    shipped = yaml.safe_load((DATA / name).read_text())
    assert shipped == generated()[name], f"{name} drifted from the chart: run `python -m tests.helm.sandbox_data`"


def test_submitter_policy_can_be_disabled():
    kinds = {o["kind"] for o in render(values={"submitterPolicy": {"enabled": False}})}
    assert not kinds & {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    assert {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} <= {o["kind"] for o in render()}


def test_operator_rules_cover_experiments_and_jobs():
    rules = operator_rules(render())
    assert any("experiments/status" in r["resources"] and r["verbs"] == ["patch"] for r in rules)
    assert any(r["apiGroups"] == ["batch"] and "create" in r["verbs"] for r in rules)
