"""Tables as data, drawn by rich on a terminal and as plain aligned lines everywhere else.

``kuberun list`` and ``describe`` are read in pipes (``| grep``, ``| awk``, scripts, watch loops)
as often as on a terminal. Off a terminal, rich would only be imported (~35 ms), asked to lay the
table out and then have its padding and markup stripped again (issue 18: a read command must not
pay for what it does not use). So a table is built once as ``Rows`` and ``draw`` picks the
drawing: a rich ``Table`` when the console is a terminal, otherwise left-aligned columns two spaces
apart — the layout rich gives these tables (``box=None, pad_edge=False``) — with no trailing
spaces, no colour and one record per line: long cells are neither cut nor wrapped, as ``grep``
needs them whole.
"""

from __future__ import annotations

import sys
import unicodedata
from typing import IO, Any


class Rows:
    """A table's headers and cells (all text); ``styles`` colours cells on a terminal, ``wrap`` names
    the columns rich may wrap there (the others never wrap). Not a dataclass: see ``query.ListFilter``."""

    def __init__(self, headers: list[str], rows: list[list[str]] | None = None,
                 styles: dict[tuple[int, int], str] | None = None, wrap: frozenset[str] = frozenset()) -> None:
        self.headers, self.rows, self.styles, self.wrap = headers, list(rows or []), dict(styles or {}), wrap

    def add_row(self, *cells: Any, style: dict[int, str] | None = None) -> None:
        for column, name in (style or {}).items():
            self.styles[(len(self.rows), column)] = name
        self.rows.append(["" if cell is None else str(cell) for cell in cells])

    def rich(self) -> Any:
        """The rich ``Table`` of these rows (as the CLI drew its tables before ``Rows``)."""
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for header in self.headers:
            table.add_column(header, no_wrap=header not in self.wrap)
        for i, cells in enumerate(self.rows):  # Text, not markup: a title with [brackets] is shown as written
            table.add_row(*(Text(cell, style=self.styles.get((i, j), "")) for j, cell in enumerate(cells)))
        return table

    def lines(self) -> list[str]:
        """The plain drawing: each column as wide as its widest cell, two spaces between columns."""
        table = [self.headers, *self.rows]
        widths = [max(cell_width(row[j]) for row in table) for j in range(len(self.headers))]
        return ["  ".join(cell + " " * (widths[j] - cell_width(cell)) for j, cell in enumerate(row)).rstrip()
                for row in table]


def cell_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide East Asian characters two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


class PlainConsole:
    """What the read commands print through when stdout is no terminal: text as given, no rich.

    It answers the members of ``rich.console.Console`` that the CLI's printing uses (``print`` of
    text, ``file``, ``is_terminal``); tables and other renderables go through ``render.emit``,
    which draws ``Rows`` itself and hands anything else to a rich console on the same file.
    """

    is_terminal = False
    is_jupyter = False

    def __init__(self, file: IO[str] | None = None) -> None:
        self.file = file if file is not None else sys.stdout

    def print(self, text: str = "", markup: bool = True) -> None:
        if not isinstance(text, str):
            raise TypeError(f"PlainConsole prints text; draw a {type(text).__name__} with render.emit")
        self.file.write(f"{text}\n")
