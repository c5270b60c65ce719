"""Reproduce overrides: literal values, dotted paths, the task name rule, refusals that name the path."""

from __future__ import annotations

import pytest

import kuberun as kr
from kuberun.errors import InvalidOverrideError
from kuberun.manage.reproduce import apply_overrides, parse_overrides, parse_path, parse_value
from tests.fixtures import tasks
from tests.helpers.manage import train_experiment


def test_override_values_are_python_literals_else_strings():
    assert [parse_value(v) for v in ("3e-4", "[1, 2]", "None", "'x'", "adam", "True")] == [3e-4, [1, 2], None, "x", "adam", True]
    assert parse_overrides(["train.lr=3e-4", "opt = adam"]) == {"train.lr": 3e-4, "opt": "adam"}


def test_override_paths_take_attributes_indices_and_keys():
    assert parse_path("model.layers[0].size") == ["model", "layers", 0, "size"]
    assert parse_path("data['split'].n") == ["data", "split", "n"]
    for bad in ("a..b", ".a", "a.", "a[x]", "1a"):
        with pytest.raises(InvalidOverrideError, match="invalid override path"):
            parse_path(bad)


def test_task_name_may_be_omitted_only_with_a_single_fiddle_task():
    exp = train_experiment()
    apply_overrides(exp.tasks, {"model.width": 3, "train.lr": 0.5})
    assert (exp.tasks["train"].config.model.width, exp.tasks["train"].config.lr) == (3, 0.5)
    exp.add(kr.Partial(tasks.add), name="other")
    with pytest.raises(InvalidOverrideError, match="start with a task name"):
        apply_overrides(exp.tasks, {"model.width": 4})


def test_overrides_set_list_items_but_refuse_unknown_parameters():
    exp = kr.Experiment("x")
    exp.add(kr.Partial(tasks.add, a=[1, 2]), name="t")
    apply_overrides(exp.tasks, {"t.a[1]": 9, "t.b": 5})
    assert (exp.tasks["t"].config.a, exp.tasks["t"].config.b) == ([1, 9], 5)
    with pytest.raises(InvalidOverrideError, match=r"add has no attribute 'c' \(has: a, b\)"):
        apply_overrides(exp.tasks, {"t.c": 1})
    with pytest.raises(InvalidOverrideError, match="list has no index 5"):
        apply_overrides(exp.tasks, {"t.a[5]": 1})
