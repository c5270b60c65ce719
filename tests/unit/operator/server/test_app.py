"""The operator's own flags start the record server: the address, TLS and the recorder's archive and log store."""

from __future__ import annotations

from pathlib import Path

from kuberun_operator.__main__ import parse_args
from kuberun_operator.server.app import config_from_settings


def test_flags_become_the_servers_config(tmp_path: Path) -> None:
    settings = parse_args(["--record-server-port", "8443", "--record-server-host", "127.0.0.1",
                           "--record-server-tls-dir", str(tmp_path), "--config", str(tmp_path / "backends.yaml")])
    config = config_from_settings(settings)
    assert (config.host, config.port) == ("127.0.0.1", 8443)
    assert (config.tls_cert, config.tls_key) == (tmp_path / "tls.crt", tmp_path / "tls.key")
    assert config.config_file == tmp_path / "backends.yaml"
    assert config.local_workdir is None  # no local executor: no file logs served


def test_the_record_server_is_off_by_default() -> None:
    assert parse_args([]).record_server_port == 0
