"""The chart's rendered backend config is exactly what the operator's config model accepts."""

from __future__ import annotations

import pytest
import yaml

from kuberun_operator.backend_config import BackendConfig
from tests.helm.chart import HELM, of_kind, render

pytestmark = pytest.mark.skipif(not HELM.exists(), reason="helm is installed by .ci/install-helm.sh")


def test_backends_values_render_a_config_the_operator_loads():
    objs = render("backends", {"slurm.pollIntervalSeconds": 5, "lepton.pollIntervalSeconds": 30})
    (config_map,) = [c for c in of_kind(objs, "ConfigMap") if "config.yaml" in c.get("data", {})]
    config = BackendConfig.model_validate(yaml.safe_load(config_map["data"]["config.yaml"]))
    assert [c.name for c in config.slurm.clusters] == ["dgx", "eos"]
    dgx = config.slurm.clusters[0]
    assert dgx.port == 2222 and str(dgx.ssh_key_file) == "/etc/kuberun/secrets/slurm/dgx/id_ed25519"
    assert config.slurm.poll_interval_seconds == 5 and config.lepton.poll_interval_seconds == 30
    assert config.skypilot is not None and str(config.skypilot.token_file).endswith("/skypilot/token")
    # The tenancy grants pass through as written; a backend the values grant nobody serves nobody.
    assert (dgx.allowed_namespaces, dgx.allowed_partitions, dgx.allowed_accounts, dgx.allowed_qos, dgx.allow_setup) == (
        ["team-a", "lab-*"], ["debug"], ["shared"], ["normal"], True)
    assert config.slurm.clusters[1].allowed_namespaces == [] and config.slurm.clusters[1].allow_setup is False
    (prod,) = config.lepton.workspaces
    assert (prod.allowed_namespaces, prod.allowed_secrets, prod.allowed_node_groups) == (["team-a"], ["hf-token"], ["ng-a"])
    assert (config.skypilot.allowed_namespaces, config.skypilot.allowed_clusters) == (["*"], ["team-a-*"])
    secrets = [line.split(":", 1)[1].strip() for line in config_map["data"]["config.yaml"].splitlines()
               if line.strip().split(":")[0] in ("tokenFile", "sshKeyFile", "knownHostsFile")]
    assert secrets and all(v.startswith("/etc/kuberun/secrets/") for v in secrets)  # paths to mounted Secrets only


def test_default_values_render_a_config_with_no_backends():
    objs = render()
    (config_map,) = [c for c in of_kind(objs, "ConfigMap") if "config.yaml" in c.get("data", {})]
    config = BackendConfig.model_validate(yaml.safe_load(config_map["data"]["config.yaml"]) or {})
    assert config.slurm.clusters == [] and config.lepton.workspaces == [] and config.skypilot is None
