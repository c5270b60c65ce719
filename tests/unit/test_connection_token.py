"""The operator's kopf connection carries the kubeconfig's bearer token (a real API server needs it)."""

from __future__ import annotations

import yaml

from kuberun_operator.connection import connection_info
from kuberun_operator.settings import Settings


def test_token_kubeconfig_gives_kopf_the_token_not_anonymous(tmp_path):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "s3cr3t-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    info = connection_info(Settings(kubeconfig=path))
    assert (info.scheme, info.token) == ("Bearer", "s3cr3t-token")
