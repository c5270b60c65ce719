"""The chaos harness itself (tests/harness/components.py): a SIGKILLed API server comes back on its
port with its state and its clients' tokens, and faults set over HTTP reach the new process."""

from __future__ import annotations

from pathlib import Path

from tests.harness.components import Cluster


def test_a_killed_api_server_restarts_on_its_port_with_its_state_and_tokens(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    try:
        cluster.start_api_server()
        port = cluster.port
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}, "data": {"k": "v"}}
        cluster.api.call("POST", "/api/v1/namespaces/default/configmaps", cm)
        assert cluster.api_server is not None
        cluster.api_server.kill()
        cluster.start_api_server()
        assert cluster.port == port and cluster.api_server.kills == 1
        # the first token still works (the harness's client kept it), and the confirmed write is there
        assert cluster.api.call("GET", "/api/v1/namespaces/default/configmaps/kept")["data"] == {"k": "v"}
        cluster.inject(status=503, times=1, verb="get", resource="configmaps")
        assert cluster.api.request("GET", "/api/v1/namespaces/default/configmaps/kept")[0] == 503
        assert cluster.api.request("GET", "/api/v1/namespaces/default/configmaps/kept")[0] == 200
    finally:
        cluster.stop()
    assert cluster.api_server is not None and not cluster.api_server.running
