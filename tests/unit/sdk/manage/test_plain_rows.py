"""Tables as data (``plain.Rows``): the same columns drawn plain off a terminal and by rich on one."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kuberun.manage import render
from kuberun.manage.plain import PlainConsole, Rows, cell_width


def _rows() -> Rows:
    rows = Rows(["NAME", "PHASE", "MESSAGE"], wrap=frozenset({"MESSAGE"}))
    rows.add_row("exp-1", "Running", "a [bold]literal[/] message", style={1: "cyan"})
    rows.add_row("実験", None, "")
    return rows


def test_plain_lines_align_columns_two_spaces_apart_counting_wide_characters():
    assert _rows().lines() == ["NAME   PHASE    MESSAGE",
                               "exp-1  Running  a [bold]literal[/] message",
                               "実験"]  # two wide characters take four columns; no trailing spaces
    assert cell_width("実験") == 4 and cell_width("e\u0301") == 1


def test_plain_lines_match_what_rich_draws_for_the_same_table_once_stripped():
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True, color_system=None)
    console.print(_rows().rich())
    assert [line.rstrip() for line in out.getvalue().splitlines()] == _rows().lines()


def test_rich_shows_cell_text_as_written_not_as_markup():
    out = io.StringIO()
    render.emit(Console(file=out, width=200, force_terminal=True, color_system="standard"), _rows())
    assert "[bold]literal[/]" in out.getvalue() and "\x1b[36mRunning" in out.getvalue()


def test_emit_indents_plain_tables_and_plain_console_prints_text_only():
    out = io.StringIO()
    plain = PlainConsole(out)
    render.emit(plain, _rows(), indent=4)
    assert out.getvalue().splitlines()[0] == "    NAME   PHASE    MESSAGE"
    plain.print("line", markup=False)
    assert out.getvalue().endswith("line\n")
    with pytest.raises(TypeError, match=r"render\.emit"):
        plain.print(_rows())  # type: ignore[arg-type]


def test_describe_on_a_terminal_indents_its_tables_with_rich():
    obj = {"metadata": {"name": "e", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"title": "t", "tasks": [{"name": "s", "script": {"command": ["true"]}, "executor": {"local": {}}}]},
           "status": {"phase": "Running", "tasks": [{"name": "s", "phase": "Running",
                                                     "attempts": [{"attempt": 1, "phase": "Running"}]}]}}
    out = io.StringIO()
    render.describe(Console(file=out, width=200, force_terminal=True, color_system=None), obj, [], [], {})
    lines = out.getvalue().splitlines()
    header = next(line for line in lines if "ATTEMPT" in line)
    assert header.startswith("    ATTEMPT  PHASE")
