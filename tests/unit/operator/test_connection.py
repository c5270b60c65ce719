"""The operator's HTTP pool holds a connection for every worker (issue 19.6: a pool of 10 under 20
workers discarded connections under load)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kuberun_operator.connection import api_client
from kuberun_operator.settings import Settings


@pytest.mark.parametrize("workers", [1, 8, 20, 64])
def test_the_client_pool_is_at_least_as_large_as_the_workers(tmp_path: Path, workers: int) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    api = api_client(Settings(kubeconfig=kubeconfig, workers=workers))
    try:
        assert api._pool.connection_pool_kw["maxsize"] >= workers + 1
        assert api._pool.connection_pool_kw["retries"].total == 3, "failed connections are retried"
    finally:
        api._pool.clear()
