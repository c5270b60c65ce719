"""``kuberun compare`` as data: a tree diff by path, identical configs skipped, scripts as one value."""

from __future__ import annotations

import kuberun as kr
from kuberun.manage.results import compare, metric
from tests.fixtures import tasks


def _obj(lr: float, width: int, script: str = "echo hi", name: str = "e") -> dict:
    exp = kr.Experiment("c")
    exp.add(kr.Partial(tasks.train, model=kr.Config(tasks.Model, width=width), lr=lr), name="train")
    exp.add(kr.Script(inline=script), name="post")
    exp.add(kr.Partial(tasks.add, a=1), name="same")
    resource, _ = exp.build()
    obj = resource.model_dump(by_alias=True, exclude_none=True, mode="json")
    obj["metadata"]["name"] = name
    return obj


def test_only_differing_paths_are_rows_and_equal_configs_are_skipped():
    doc = compare([_obj(0.1, 8, name="a"), _obj(0.2, 8, "echo bye", name="b")], [{}, {}])
    assert doc["experiments"] == ["a", "b"]
    assert [r["path"] for r in doc["config"]] == ["train.lr", "post.<script>"]
    assert doc["config"][0]["values"] == ["0.1", "0.2"]
    assert doc["config"][1]["values"] == ["#!bash\necho hi", "#!bash\necho bye"]


def test_a_nested_change_is_named_by_its_full_path_and_three_runs_line_up():
    doc = compare([_obj(0.1, 8), _obj(0.1, 16), _obj(0.1, 8)], [{}, {}, {}])
    assert doc["config"] == [{"path": "train.model.width", "values": ["8", "16", "8"]}]


def test_metric_columns_pick_task_dot_metric_or_the_last_task_that_has_it():
    obj = {"status": {"tasks": [{"name": "train", "attempts": [{"metrics": {"loss": {"value": 2.0}}}]},
                                {"name": "eval", "attempts": [{"metrics": {"loss": {"value": 1.0}, "val.acc": {"value": 0.5}}}]}]}}
    assert metric(obj, "loss") == 1.0 and metric(obj, "train.loss") == 2.0
    assert metric(obj, "val.acc") == 0.5 and metric(obj, "eval.val.acc") == 0.5 and metric(obj, "nope") is None
