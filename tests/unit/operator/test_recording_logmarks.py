"""recording/logmarks.py: the metric marks of a log taken as its copy streams past, in bounded memory."""

from __future__ import annotations

import json

from kuberun.resource import results
from kuberun_operator.recording.logmarks import MetricMarks


async def _through(marks: MetricMarks, data: bytes, size: int) -> bytes:
    async def chunks():
        for i in range(0, len(data), size):
            yield data[i:i + size]
    return b"".join([c async for c in marks.scan(chunks())])


def _point(i: int) -> str:
    return json.dumps({"name": "loss", "step": i, "value": i / 10}, separators=(",", ":"))


async def test_marks_split_across_chunks_are_found_and_the_log_passes_through_unchanged():
    log = b"".join([b"(task, pid=1) training\n", *(f"(task, pid=1) {results.LOG_METRIC_MARK}{_point(i)}\n".encode()
                                                   for i in range(50)),
                    f"{results.LOG_SUMMARY_MARK}{{}}\n".encode(), f"{results.LOG_METRIC_MARK}{_point(99)}".encode()])
    for size in (1, 7, 4096):
        marks = MetricMarks()
        assert await _through(marks, log, size) == log
        assert marks.points == [_point(i) for i in range(50)]  # not the repeat after the first summary
        assert marks.series().decode().splitlines() == [_point(i) for i in range(50)]


async def test_long_lines_are_skipped_without_being_buffered_and_the_count_is_bounded():
    huge = b"x" * (4 << 20)  # a 4 MiB line: never held whole
    log = huge + b"\n" + b"".join(f"{results.LOG_METRIC_MARK}{_point(i)}\n".encode() for i in range(30))
    marks = MetricMarks(limit=10)
    await _through(marks, log, 65536)
    assert marks.points == [_point(i) for i in range(10)] and len(marks._partial) < 2048
