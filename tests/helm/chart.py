"""Render the Helm chart with the real ``helm`` binary (installed by .ci/install-helm.sh).

Shared by the chart tests and by the RBAC test, which compares the chart's grants with the
requests the operator really made.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "kuberun"
HELM = REPO / ".tools" / "bin" / "helm"
RELEASE, NAMESPACE = "kr", "kuberun-system"
# The namespaces the namespaced CI values (ci/namespaced-values.yaml, ci/ha-namespaced-values.yaml) watch.
TEAMS = ["team-a", "team-b"]
# The one Role that is not the operator's: every authenticated user may read the endpoints ConfigMap.
ENDPOINTS_READER = "kuberun-endpoints-reader"

# The values files the chart's CI runs with (helm/kuberun/ci/), plus the defaults.
VARIANTS: dict[str, Path | None] = {"default": None} | {
    p.name.removesuffix("-values.yaml"): p for p in sorted((CHART / "ci").glob("*-values.yaml"))
}


class HelmError(Exception):
    """helm exited non-zero; the message is its stderr."""


def helm(*args: str, timeout: float = 60) -> str:
    proc = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise HelmError(proc.stderr.strip() or proc.stdout.strip())
    return proc.stdout


def values_args(variant: str | None = None, values: dict[str, Any] | None = None) -> list[str]:
    args: list[str] = []
    if variant is not None and VARIANTS[variant] is not None:
        args += ["-f", str(VARIANTS[variant])]
    if values:
        # --set-json per top-level key keeps types exact (a YAML file would do the same).
        args += [a for key, val in values.items() for a in ("--set-json", f"{key}={json.dumps(val)}")]
    return args


def render(variant: str | None = None, values: dict[str, Any] | None = None, *, crds: bool = False) -> list[dict[str, Any]]:
    """``helm template`` as a list of objects (CRDs from crds/ too when ``crds``)."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *values_args(variant, values)]
    if crds:
        args.append("--include-crds")
    return [doc for doc in yaml.safe_load_all(helm(*args)) if doc]


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (obj,) = of_kind(objs, kind)
    return obj


def operator_workload(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The operator's Deployment (one replica) or StatefulSet (active/standby)."""
    (obj,) = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"].endswith("-operator")]
    return obj


def operator_container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The operator pod's one container."""
    (c,) = operator_workload(objs)["spec"]["template"]["spec"]["containers"]
    return c
