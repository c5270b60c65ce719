"""``kuberun logs`` reaches the bridges only through the ``kuberun.log_sources`` entry points and LogSource."""

from __future__ import annotations

import importlib.metadata
from collections.abc import AsyncIterator
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from kuberun.errors import LogsUnavailableError
from kuberun.manage.bridgelogs import bridge_log, load_log_source
from kuberun.resource.logsource import ENTRY_POINT_GROUP, LogSource, LogSourceError


class Source:
    def __init__(self, config_file: str | None) -> None:
        self.config_file = config_file

    async def logs(self, ref: Any, log_ref: Any, follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        yield b"x"


def refusing(config_file: str | None) -> Source:
    raise LogSourceError(f"backend config {config_file} has no 'lepton' section")


def not_a_source(config_file: str | None) -> object:
    return object()


def registered(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    entry = EntryPoint("lepton", value, ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group, name: (entry,) if (group, name) == (ENTRY_POINT_GROUP, "lepton") else ())


def test_the_bridges_register_a_log_source_for_each_remote_backend():
    from importlib.metadata import entry_points

    names = {e.name: e.value for e in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(names) == {"slurm", "skypilot", "lepton"}
    assert all(callable(entry.load()) for entry in entry_points(group=ENTRY_POINT_GROUP))


def test_the_registered_lepton_source_is_a_log_source_built_from_the_config(tmp_path):
    config = tmp_path / "backends.yaml"
    config.write_text("lepton:\n  workspaces: [{name: prod, url: 'http://lepton.invalid'}]\n")
    assert isinstance(load_log_source("lepton", str(config)), LogSource)
    obj = {"metadata": {"namespace": "ns", "name": "e", "uid": "u"}, "spec": {"title": "t", "tasks": [
        {"name": "t", "script": {"command": ["true"]}, "executor": {"lepton": {"resourceShape": "cpu.small"}}}]}}
    with pytest.raises(LogsUnavailableError, match=r"backend config .*backends.yaml.missing: .*No such file"):
        list(bridge_log("lepton", obj, "t", 1, False, None, str(tmp_path / "backends.yaml.missing")))


def test_a_kind_nobody_registered_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group, name: ())
    with pytest.raises(LogsUnavailableError, match=r"need the lepton bridge: pip install 'kuberun\[lepton\]'"):
        load_log_source("lepton", "cfg.yaml")


def test_a_source_that_cannot_import_says_what_to_install(monkeypatch):
    registered(monkeypatch, "kuberun_no_such_package.logsource:lepton")
    with pytest.raises(LogsUnavailableError, match="need the lepton bridge"):
        load_log_source("lepton", "cfg.yaml")


def test_factory_refusals_and_wrong_objects_are_one_clear_line(monkeypatch):
    registered(monkeypatch, f"{__name__}:refusing")
    with pytest.raises(LogsUnavailableError, match=r"backend config cfg\.yaml has no 'lepton' section"):
        load_log_source("lepton", "cfg.yaml")
    registered(monkeypatch, f"{__name__}:not_a_source")
    with pytest.raises(LogsUnavailableError, match=r"does not implement kuberun\.resource\.logsource\.LogSource"):
        load_log_source("lepton", "cfg.yaml")
    registered(monkeypatch, f"{__name__}:Source")
    source = load_log_source("lepton", "cfg.yaml")
    assert isinstance(source, Source) and source.config_file == "cfg.yaml"
