"""The chart's record values: the archive's URL from a connection Secret (mounted, passed as a file
path, never a value), the log store's URL and credentials Secret, and the RBAC they need granted
only when they are configured (the default chart stays exactly as audited)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.chart import HELM, operator_workload, render
from tests.helm.rbac import granted

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing: run .ci/install-helm.sh (CI does)")

RECORDING = {"archive": {"existingSecret": "kuberun-archive"},
             "logStore": {"url": "s3://ml-records/kuberun", "existingSecret": "kuberun-logstore"}}
RECORD_GRANTS = {("", "events", "list"), ("", "pods/log", "get")}


def _pod(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return operator_workload(objs)["spec"]["template"]["spec"]


def test_secrets_are_mounted_and_named_by_path_and_the_operator_cli_accepts_the_args() -> None:
    from kuberun_operator.__main__ import parse_args

    pod = _pod(render(values=RECORDING))
    (c,) = pod["containers"]
    settings = parse_args(c["args"])
    assert str(settings.archive_url_file) == "/etc/kuberun/secrets/archive/url" and settings.archive_url is None
    assert settings.log_store_url == "s3://ml-records/kuberun"
    assert str(settings.log_store_secret_dir) == "/etc/kuberun/secrets/logstore"
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["archive"]["mountPath"] == "/etc/kuberun/secrets/archive" and mounts["archive"]["readOnly"]
    assert mounts["logstore"]["mountPath"] == "/etc/kuberun/secrets/logstore" and mounts["logstore"]["readOnly"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["archive"]["secret"] == {"secretName": "kuberun-archive", "defaultMode": 0o440,
                                            "items": [{"key": "url", "path": "url"}]}
    assert volumes["logstore"]["secret"]["secretName"] == "kuberun-logstore"


def test_an_archive_url_without_a_secret_is_passed_as_a_flag() -> None:
    (c,) = _pod(render(values={"archive": {"url": "sqlite:////data/archive.db"}}))["containers"]
    assert "--archive-url=sqlite:////data/archive.db" in c["args"]
    assert not [a for a in c["args"] if a.startswith(("--archive-url-file", "--log-store"))]


def test_record_permissions_are_granted_only_when_recording_is_configured() -> None:
    assert not granted() & RECORD_GRANTS
    assert granted(values=RECORDING) >= RECORD_GRANTS
    assert granted(values={"archive": {"url": "sqlite:////data/a.db"}}) & RECORD_GRANTS == {("", "events", "list")}
    assert granted(values={"logStore": {"url": "/data/logs"}}) & RECORD_GRANTS == {("", "pods/log", "get")}


def test_unknown_record_keys_are_refused_by_the_values_schema() -> None:
    from tests.helm.chart import HelmError

    with pytest.raises(HelmError, match="passwd"):
        render(values={"archive": {"url": "", "passwd": "x"}})


def test_a_managed_crd_is_the_generated_one_kept_on_uninstall_and_absent_by_default() -> None:
    import yaml

    from tests.helm.chart import CHART, of_kind

    generated = yaml.safe_load((CHART / "crds" / "kuberun.dev_experiments.yaml").read_text())
    assert not of_kind(render(), "CustomResourceDefinition")  # plain installs use crds/
    (crd,) = of_kind(render(values={"crds": {"manage": True}}), "CustomResourceDefinition")
    assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    assert crd == generated
