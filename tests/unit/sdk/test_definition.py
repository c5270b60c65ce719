"""The experiment definition: names and graph checked, large configs spill to ConfigMaps, resources read back."""

from __future__ import annotations

import random
import string

import pytest
import yaml

import kuberun as kr
from kuberun.errors import (
    ConfigSerializationError,
    InvalidExperimentError,
)
from tests.fixtures import tasks


def _noise(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters) for _ in range(n))


def test_experiment_rejects_unserializable_config_at_dryrun():
    with kr.Experiment("bad") as exp:
        exp.add(kr.Partial(tasks.add, a=lambda: 1), name="t")
    with pytest.raises(ConfigSerializationError, match="task 't'"):
        exp.dryrun()


def test_bad_task_names_and_graph_name_the_field():
    exp = kr.Experiment("bad")
    exp.add(kr.Partial(tasks.add, a=1), name="Bad_Name")
    with pytest.raises(InvalidExperimentError, match=r"tasks\[0\]\(Bad_Name\)\.name"):
        exp.to_resource()
    exp = kr.Experiment("cycle")
    exp.add(kr.Partial(tasks.add, a=1), name="a", dependencies=["b"])
    exp.add(kr.Partial(tasks.add, a=1), name="b", dependencies=["a"])
    with pytest.raises(InvalidExperimentError, match="dependency cycle"):
        exp.to_resource()
    with pytest.raises(InvalidExperimentError, match="duplicate task name"):
        exp.add(kr.Partial(tasks.add, a=1), name="a")
    with pytest.raises(InvalidExperimentError, match="no tasks"):
        kr.Experiment("empty").to_resource()


def test_default_task_names_come_from_the_callable():
    exp = kr.Experiment("names")
    assert exp.add(kr.Partial(tasks.add, a=1)) == "add"
    assert exp.add(kr.Partial(tasks.add, a=2)) == "add-2"
    assert exp.add(kr.Script(command="echo hi")) == "script"


def test_large_configs_spill_to_config_maps_and_come_back():
    blob = _noise(400_000)  # random text compresses poorly: ~300 KiB encoded, over the inline limit
    with kr.Experiment("big") as exp:
        exp.add(kr.Partial(tasks.take_blob, blob=blob), name="big")
        exp.add(kr.Partial(tasks.add, a=1), name="small")
    manifests = exp.to_manifests()
    maps = [m for m in manifests if m["kind"] == "ConfigMap"]
    experiment = manifests[-1]
    big, small = experiment["spec"]["tasks"]
    assert "data" in small["fiddle"] and "data" not in big["fiddle"]
    assert [r["name"] for r in big["fiddle"]["configMapRefs"]] == [m["metadata"]["name"] for m in maps]
    back = kr.Experiment.from_resource(yaml.safe_dump_all(manifests))
    assert back.tasks["big"].config.blob == blob


def test_huge_configs_split_into_several_config_maps():
    blob = _noise(1_300_000, seed=1)
    with kr.Experiment("huge") as exp:
        exp.add(kr.Partial(tasks.take_blob, blob=blob), name="huge")
    maps = [m for m in exp.to_manifests() if m["kind"] == "ConfigMap"]
    assert len(maps) == 2
    assert all(len(m["data"]["config"]) <= 768 * 1024 for m in maps)


def test_inline_budget_spills_the_largest_configs_first():
    with kr.Experiment("budget") as exp:
        for i in range(6):
            exp.add(kr.Partial(tasks.take_blob, blob=_noise(120_000, seed=i)), name=f"t{i}")
    experiment = exp.to_manifests()[-1]
    inline = sum(len(t["fiddle"].get("data", "")) for t in experiment["spec"]["tasks"])
    assert inline <= 512 * 1024
    assert any("configMapRefs" in t["fiddle"] for t in experiment["spec"]["tasks"])


def test_from_resource_gives_editable_buildables_that_emit_again():
    with kr.Experiment("edit", executor=kr.LocalExecutor()) as exp:
        exp.add(kr.Partial(tasks.train, model=kr.Config(tasks.Model), lr=0.1), name="train")
        exp.add(kr.Script(inline="echo $X", env={"X": "1"}), name="after", dependencies=["train"], retries=3)
    back = kr.Experiment.from_resource(exp.to_resource())
    back.tasks["train"].config.lr = 3e-4
    back.tasks["train"].config.model.width = 16
    again = kr.Experiment.from_resource(back.dryrun())
    assert again.tasks["train"].config.lr == 3e-4 and again.tasks["train"].config.model.width == 16
    assert again.tasks["after"].dependencies == ["train"] and again.tasks["after"].retries.limit == 3
    assert isinstance(again.tasks["after"].executor, kr.LocalExecutor)
    assert again.tasks["after"].config.env == {"X": "1"}


def test_resource_records_source_submitter_and_labels(tmp_path, monkeypatch):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=repo, check=True)
    monkeypatch.chdir(repo)
    exp = kr.Experiment("My Run #2", project="Vision")
    exp.add(kr.Partial(tasks.add, a=1))
    res = exp.to_resource()
    assert res["metadata"]["name"].startswith("my-run-2-")
    assert res["metadata"]["labels"]["kuberun.dev/title"] == "my-run-2"
    assert res["metadata"]["labels"]["kuberun.dev/project"] == "vision"
    assert res["spec"]["sdkVersion"] == kr.__version__
    assert len(res["spec"]["source"]["commit"]) == 40 and res["spec"]["source"]["dirty"] is False
    monkeypatch.chdir(tmp_path)
    assert "source" not in exp.to_resource()["spec"]
