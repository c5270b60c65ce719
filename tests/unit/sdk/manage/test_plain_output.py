"""Plain output off a terminal: tables without trailing padding, watch as one line per change."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from kuberun.manage.progress import changes
from kuberun.manage.render import config_lines, emit, list_table


def _obj(phase: str, tasks: list[dict[str, Any]], progress: str = "0/2", version: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": "exp-1", "namespace": "ns", "resourceVersion": version, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"title": "exp", "tasks": [{"name": "a", "executor": {"kubernetes": {}}}, {"name": "b", "executor": {"kubernetes": {}}}]},
            "status": {"phase": phase, "progress": progress, "tasks": tasks}}


def test_emit_to_a_file_writes_the_table_without_trailing_spaces_or_escapes():
    out = io.StringIO()
    emit(Console(file=out, width=200), list_table([_obj("Running", [])]))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["NAME", "TITLE", "PHASE", "TASKS", "BACKENDS", "SUBMITTER", "AGE"]
    assert lines[1].split()[:4] == ["exp-1", "exp", "Running", "0/2"]
    assert all(line == line.rstrip() for line in lines) and "\x1b" not in out.getvalue()


def test_emit_to_a_terminal_draws_with_rich():
    out = io.StringIO()
    emit(Console(file=out, width=200, force_terminal=True, color_system="standard"), list_table([_obj("Running", [])]))
    assert "\x1b[1m" in out.getvalue()


def test_changes_prints_every_row_first_then_only_rows_that_changed():
    first = _obj("Running", [{"name": "a", "phase": "Running", "attempt": 1}])
    assert changes(None, first) == ["task a Running attempt=1", "task b Pending", "experiment exp-1 Running 0/2 tasks"]
    second = _obj("Running", [{"name": "a", "phase": "Succeeded", "attempt": 1, "exitCode": 0, "reason": "Completed"}], "1/2")
    assert changes(first, second) == ["task a Succeeded attempt=1 exit=0 reason=Completed", "experiment exp-1 Running 1/2 tasks"]
    assert changes(second, second) == []


def test_describe_shows_a_command_as_a_shell_would_read_it_back():
    task = {"name": "s", "script": {"command": ["echo", "a b", "it's"], "args": ["$HOME"]}}
    assert config_lines(task, {}) == ["$ echo 'a b' 'it'\"'\"'s' '$HOME'"]
