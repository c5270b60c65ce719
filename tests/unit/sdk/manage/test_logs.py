"""Log reading: tails read backwards, lines hold at most one partial line."""

from __future__ import annotations

from pathlib import Path

from kuberun.manage.logs import _tail_offset, lines


def test_log_tail_reads_backwards_and_lines_hold_only_a_partial_line(tmp_path: Path):
    log = tmp_path / "out.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(50_000)))
    offset = _tail_offset(log, 2)
    assert log.read_bytes()[offset:] == b"line 49998\nline 49999\n"
    assert list(lines(iter([b"a\nb", b"c\n\xc3", b"\xa9"]))) == ["a", "bc", "é"]
