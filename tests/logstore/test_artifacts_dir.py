"""``kuberun.artifacts.artifacts_dir``: the task-side half of artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kuberun.artifacts import ENV, artifacts_dir
from kuberun.errors import KuberunError


def test_it_creates_and_returns_the_directory_the_runner_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "attempt-0" / "out"))
    path = artifacts_dir()
    assert path == tmp_path / "attempt-0" / "out" and path.is_dir()
    assert artifacts_dir() == path  # twice is fine


def test_outside_kuberun_it_is_artifacts_under_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert artifacts_dir() == tmp_path / "artifacts" and (tmp_path / "artifacts").is_dir()


def test_a_file_in_the_way_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "taken").write_text("x")
    monkeypatch.setenv(ENV, str(tmp_path / "taken"))
    with pytest.raises(KuberunError, match="exists and is not a directory"):
        artifacts_dir()
