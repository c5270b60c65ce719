"""Mistakes a new user makes read as one line naming the field, and are both KuberunError and ValueError.

Issue 16 item 9: ``kr.KubernetesExecutor(cpu="banana")`` raised pydantic's multi-line
ValidationError, and an override aimed at a script task was told to "start with a task name".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import kuberun as kr
from kuberun.errors import (
    InvalidExecutorError,
    InvalidExperimentError,
    InvalidOverrideError,
    InvalidScriptError,
    KuberunError,
)
from kuberun.manage.reproduce import apply_overrides
from tests.fixtures import tasks

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("build", "expected"), [
    (lambda: kr.KubernetesExecutor(cpu="banana"), "invalid executor: cpu: String should match pattern"),
    (lambda: kr.KubernetesExecutor(gpus=-1), "invalid executor: gpus: Input should be greater than or equal to 0"),
    (lambda: kr.KubernetesExecutor(procs_per_node=2), "invalid executor: procs_per_node > 1 needs launcher='torchrun'"),
    (lambda: kr.KubernetesExecutor(colour="red"), "invalid executor: colour: Extra inputs are not permitted"),
    (lambda: kr.SlurmExecutor(nodes="many"), "invalid executor: cluster: Field required; nodes: Input should be a valid integer"),
    (lambda: kr.LocalExecutor(env={"A=B": "c"}), "invalid executor: env.A=B"),
])
def test_bad_executor_fields_raise_one_line_naming_the_field(build, expected):
    with pytest.raises(InvalidExecutorError) as caught:
        build()
    assert isinstance(caught.value, KuberunError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


@pytest.mark.parametrize("build", [
    lambda: kr.Experiment("x", executor="banana"),
    lambda: kr.Experiment("x").add(kr.Script(command=["true"]), executor={"cpu": 1}),
])
def test_something_that_is_not_an_executor_is_refused_when_given_not_at_build(build):
    with pytest.raises(InvalidExecutorError, match=r"^invalid executor: expected one of kr\.KubernetesExecutor, .*, got (str|dict) "):
        build()


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"retries": -1}, "invalid task 't': retries: Input should be greater than or equal to 0"),
    ({"backoff_seconds": 10**6}, "invalid task 't': backoff_seconds: Input should be less than or equal to 3600"),
])
def test_bad_retry_arguments_name_the_argument_of_add(kwargs, expected):
    with pytest.raises(InvalidExperimentError) as caught:
        kr.Experiment("x").add(kr.Script(command=["true"]), name="t", **kwargs)
    assert str(caught.value) == expected


def test_assigning_a_bad_executor_field_is_the_same_one_line_error():
    executor = kr.KubernetesExecutor()
    with pytest.raises(InvalidExecutorError, match=r"^invalid executor: memory: "):
        executor.memory = "lots"
    assert executor.memory is None


def test_parsing_a_resource_still_reports_inside_the_resource_not_as_an_executor():
    from pydantic import ValidationError

    from kuberun.resource.executors import Executor

    with pytest.raises(ValidationError):  # the operator's path: reworded by the resource's own formatter
        Executor.model_validate({"kubernetes": {"cpu": "banana"}})


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, "kr.Script takes exactly one of command, inline or path (got none)"),
    ({"command": ["true"], "inline": "true"}, "kr.Script takes exactly one of command, inline or path (got ['command', 'inline'])"),
    ({"command": ["true"], "env": {"A=B": "c"}}, "invalid script: env.A=B"),
    ({"path": "/nonexistent/prepare.sh"}, "invalid script: path: cannot read /nonexistent/prepare.sh"),
])
def test_bad_scripts_raise_one_line_at_construction(kwargs, expected):
    with pytest.raises(InvalidScriptError) as caught:
        kr.Script(**kwargs)
    assert isinstance(caught.value, ValueError) and str(caught.value).startswith(expected)


def _mixed() -> kr.Experiment:
    exp = kr.Experiment("mixed")
    exp.add(kr.Partial(tasks.add, a=1), name="pi")
    exp.add(kr.Partial(tasks.add, a=2), name="primes")
    exp.add(kr.Script(inline="echo report"), name="report")
    return exp


def test_overriding_a_script_task_says_script_tasks_take_no_overrides():
    with pytest.raises(InvalidOverrideError) as caught:
        apply_overrides(_mixed().tasks, {"report.x": 1})
    assert str(caught.value) == ("invalid override 'report.x': task 'report' is a script task; "
                                 "script tasks take no config overrides (tasks with a config: pi, primes)")


def test_an_experiment_of_only_scripts_says_so_for_any_override():
    exp = kr.Experiment("scripts")
    exp.add(kr.Script(inline="echo a"), name="pi")
    with pytest.raises(InvalidOverrideError, match="every task here is a script task, and script tasks take no config overrides"):
        apply_overrides(exp.tasks, {"samples": 5})


def test_the_task_name_hint_lists_only_tasks_that_take_overrides():
    with pytest.raises(InvalidOverrideError) as caught:
        apply_overrides(_mixed().tasks, {"a": 5})
    assert str(caught.value) == "invalid override path 'a': start with a task name (pi, primes)"


def test_the_cli_prints_one_error_line_for_a_kuberun_error_raised_by_a_users_script(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("import kuberun as kr\nkr.KubernetesExecutor(cpu='banana')\n")
    proc = subprocess.run([sys.executable, "-m", "kuberun.cli", "dry-run", str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("error: invalid executor: cpu: ") and proc.stderr.count("\n") == 1, proc.stderr
