"""``kuberun artifacts --download`` trusts no manifest: unsafe paths refuse everything, bytes are verified."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from kuberun.errors import KuberunError
from kuberun.manage import artifacts


def _store(tmp_path: Path, entries: list[dict], files: dict[str, bytes]) -> str:
    prefix = tmp_path / "store" / "ns" / "exp-0b6c1e4e" / "t" / "1" / "artifacts"
    for rel, data in files.items():
        (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        (prefix / rel).write_bytes(data)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(str(prefix) + ".manifest.json").write_text(json.dumps({"entries": entries}))
    return f"file://{prefix}"


def _entry(path: str, data: bytes) -> dict:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_every_file_is_downloaded_and_verified(tmp_path):
    files = {"a.txt": b"alpha", "deep/b.bin": b"\0" * 1000}
    location = _store(tmp_path, [_entry(p, d) for p, d in files.items()], files)
    written = artifacts.download(location, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["a.txt", "deep/b.bin"]
    assert (tmp_path / "out" / "deep" / "b.bin").read_bytes() == files["deep/b.bin"]


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", "a\\\\b", "a\nb", ""])
def test_an_unsafe_path_in_the_manifest_refuses_the_whole_download(tmp_path, path):
    location = _store(tmp_path, [_entry("ok.txt", b"ok"), _entry(path, b"x")], {"ok.txt": b"ok"})
    with pytest.raises(KuberunError, match="unsafe"):
        artifacts.download(location, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written, not even the safe file


def test_bytes_that_do_not_match_are_not_written(tmp_path):
    location = _store(tmp_path, [_entry("a.txt", b"expected")], {"a.txt": b"tampered"})
    with pytest.raises(KuberunError, match="do not match"):
        artifacts.download(location, tmp_path / "out")
    assert not (tmp_path / "out" / "a.txt").exists() and not list((tmp_path / "out").glob(".kuberun-*"))


def test_a_path_listed_twice_is_refused(tmp_path):
    location = _store(tmp_path, [_entry("a", b"1"), _entry("a", b"1")], {"a": b"1"})
    with pytest.raises(KuberunError, match="listed twice"):
        artifacts.manifest(location)


def test_records_pick_the_latest_attempt_with_artifacts_and_name_a_missing_task():
    obj = {"metadata": {"name": "e"}, "spec": {"tasks": [{"name": "t"}, {"name": "u"}]},
           "status": {"tasks": [{"name": "t", "attempts": [{"attempt": 1, "artifacts": {"location": "l1"}},
                                                           {"attempt": 2, "artifacts": {"location": "l2"}}, {"attempt": 3}]}]}}
    assert [(r["task"], r["attempt"]) for r in artifacts.records(obj)] == [("t", 2)]
    assert [r["attempt"] for r in artifacts.records(obj, "t", attempt=1)] == [1]
    assert artifacts.records(obj, "u") == []
    with pytest.raises(KuberunError, match="has no task 'nope'"):
        artifacts.records(obj, "nope")


def test_the_listing_says_which_node_uploaded_each_file_of_a_multi_node_attempt(monkeypatch):
    from typer.testing import CliRunner

    from kuberun.commandline import app
    from kuberun.manage import query
    from kuberun.manage import results_commands as commands

    files = [_entry("model.pt", b"m"), _entry("nodes/1/ckpt/shard.pt", b"s1"), _entry("nodes/12/ckpt/shard.pt", b"s12")]
    obj = {"metadata": {"name": "e"}, "status": {"tasks": [{"name": "train", "attempts": [
        {"attempt": 1, "phase": "Succeeded", "artifacts": {"count": 3, "totalBytes": 5, "location": "file:///x", "files": files}}]}]}}
    monkeypatch.setattr(commands, "_kube", lambda *args, **kwargs: None)
    monkeypatch.setattr(query, "get_experiment", lambda kube, name: obj)
    result = CliRunner().invoke(app, ["artifacts", "e"])
    assert result.exit_code == 0, result.output
    rows = [line.split()[2:] for line in result.output.splitlines()[1:]]
    assert rows == [["node", "0", "model.pt"], ["node", "1", "ckpt/shard.pt"], ["node", "12", "ckpt/shard.pt"]]
    del files[1:]  # a one-node attempt: no node column
    plain = CliRunner().invoke(app, ["artifacts", "e"]).output.splitlines()[1]
    assert plain.split()[2:] == ["model.pt"]
