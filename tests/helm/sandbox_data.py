"""The chart-derived data the sandbox ships, generated from the rendered chart (one source of truth).

The sandbox cannot run helm, so ``kuberun_sandbox/apiserver/auth/data/`` holds the operator's RBAC
rules and the submitter policy as the chart renders them — with default values, except that the
archive and the log store are configured (``SANDBOX_VALUES``: the sandbox always records);
``tests/helm/test_sandbox_data.py`` fails when they drift. Regenerate with::

    .venv/bin/python -m tests.helm.sandbox_data
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.helm.chart import NAMESPACE, of_kind, operator_workload, render

DATA = Path(__file__).resolve().parents[2] / "sandbox" / "kuberun_sandbox" / "apiserver" / "auth" / "data"
HEADER = "# Generated from helm/kuberun by tests/helm/sandbox_data.py (default values + SANDBOX_VALUES); do not edit.\n"
# The sandbox's operator records (kuberun_sandbox.run): the chart's RBAC for that is what it enforces.
SANDBOX_VALUES = {"archive": {"url": "sqlite:////var/lib/kuberun/archive.db"}, "logStore": {"url": "/var/lib/kuberun/logs"}}


def operator_rules(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules of every ClusterRole bound cluster-wide to the operator's ServiceAccount."""
    account = operator_workload(objs)["spec"]["template"]["spec"]["serviceAccountName"]
    names = {b["roleRef"]["name"] for b in of_kind(objs, "ClusterRoleBinding")
             if any(s["kind"] == "ServiceAccount" and s["name"] == account and s.get("namespace") == NAMESPACE
                    for s in b.get("subjects") or [])}
    return [rule for role in of_kind(objs, "ClusterRole") if role["metadata"]["name"] in names for rule in role["rules"]]


def submitter_policy(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        for o in of_kind(objs, kind):
            spec = dict(o["spec"])
            if "policyName" in spec:
                spec["policyName"] = "kuberun-submitter"
            out.append({"apiVersion": o["apiVersion"], "kind": kind, "metadata": {"name": "kuberun-submitter"}, "spec": spec})
    return out


def generated() -> dict[str, Any]:
    objs = render(values=SANDBOX_VALUES)
    return {"operator-rbac.yaml": operator_rules(objs), "submitter-policy.yaml": submitter_policy(objs)}


def main() -> None:
    for name, content in generated().items():
        (DATA / name).write_text(HEADER + yaml.safe_dump(content, sort_keys=False))
        print(f"wrote {DATA / name}")


if __name__ == "__main__":
    main()
