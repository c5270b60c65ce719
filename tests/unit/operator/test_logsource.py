"""The operator's ``kuberun.log_sources`` entry points: found by group and kind, built from the
backend config file, started and stopped around one stream, errors as ``LogSourceError``."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest

from kuberun.resource import ExperimentResource
from kuberun.resource.logsource import ENTRY_POINT_GROUP, LogSource, LogSourceError
from kuberun_operator import logsource
from kuberun_operator.backends.base import BackendError

EXP = ExperimentResource.model_validate({
    "metadata": {"namespace": "team-a", "name": "exp", "uid": "u-1"},
    "spec": {"title": "t", "tasks": [{"name": "t", "script": {"command": ["true"]}, "executor": {"lepton": {"workspace": "prod", "resourceShape": "cpu.small"}}}]}})


async def collect(source: LogSource, follow: bool = False, tail: int | None = None) -> list[bytes]:
    return [chunk async for chunk in source.logs(EXP, "t", 2, follow, tail)]


def test_one_entry_point_per_bridge_kind_opens_a_log_source():
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(found) == {"slurm", "lepton", "skypilot"}
    for kind, ep in found.items():
        assert ep.load() is getattr(logsource, kind)
        assert isinstance(ep.load()(None), LogSource)


class FakeLepton:
    calls: list[Any] = []
    fail: BackendError | None = None

    def __init__(self, config: Any, settings: Any) -> None:
        self.calls.append(("init", [w.name for w in config.workspaces], str(settings.config_file)))

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")

    async def logs(self, exp: Any, task: str, attempt: int, follow: bool, tail: int | None) -> Any:
        self.calls.append(("logs", exp.metadata.uid, task, attempt, follow, tail))
        yield b"one\n"
        if self.fail is not None:
            raise self.fail
        yield b"two\n"


@pytest.fixture
def lepton_config(tmp_path, monkeypatch):
    config = tmp_path / "backends.yaml"
    config.write_text("lepton:\n  workspaces: [{name: prod, url: 'http://lepton.invalid'}]\n")
    monkeypatch.setattr("kuberun_operator.backends.lepton.LeptonBackend", FakeLepton)
    FakeLepton.calls, FakeLepton.fail = [], None
    return str(config)


async def test_a_bridge_is_built_from_the_config_and_started_and_stopped_around_the_stream(lepton_config):
    assert await collect(logsource.lepton(lepton_config), follow=True, tail=5) == [b"one\n", b"two\n"]
    assert FakeLepton.calls == [("init", ["prod"], lepton_config), "start", ("logs", "u-1", "t", 2, True, 5), "stop"]


async def test_a_backend_error_mid_stream_stops_the_bridge_and_surfaces_as_log_source_error(lepton_config):
    FakeLepton.fail = BackendError("LogsUnavailable", "the replica is gone", permanent=True)
    source = logsource.open_log_source("lepton", lepton_config)
    with pytest.raises(LogSourceError, match=r"^lepton: the replica is gone$"):
        await collect(source)
    assert FakeLepton.calls[-1] == "stop"


# (kind, config file text or None for no file, the error's message)
CONFIG_ERRORS = {
    "no-config": ("lepton", None, "logs of lepton tasks need the backend config file"),
    "no-section": ("skypilot", "lepton:\n  workspaces: []\n", "has no 'skypilot' section"),
    "bad-yaml": ("slurm", "slurm: [", "backend config"),
}


@pytest.mark.parametrize(("kind", "text", "message"), CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
async def test_a_missing_or_bad_config_is_a_clear_log_source_error(tmp_path, kind, text, message):
    path = None
    if text is not None:
        path = tmp_path / "backends.yaml"
        path.write_text(text)
    with pytest.raises(LogSourceError, match=message):
        await collect(logsource.open_log_source(kind, str(path) if path else None))


def test_an_unknown_kind_is_refused_with_the_known_ones():
    with pytest.raises(LogSourceError, match=r"no log source for backend 'pod' \(known: lepton, skypilot, slurm\)"):
        logsource.open_log_source("pod", None)
