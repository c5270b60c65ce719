"""recording/series.py: a metrics.jsonl file becomes archive points, tolerant of what writers leave."""

from __future__ import annotations

import json
import math

from kuberun_operator.archive.series import metric_points
from kuberun_operator.recording.series import batches, points


def test_lines_become_points_the_archive_accepts():
    lines = [json.dumps({"name": "loss", "step": 3, "value": 0.5, "time": 1.9e9}), json.dumps({"name": "loss", "value": "NaN"}),
             json.dumps({"name": "acc", "value": 0.1}), json.dumps({"name": "acc", "value": 0.2}), "\n"]
    found, skipped = points(lines)
    assert skipped == 0
    assert [(p["name"], p["step"]) for p in found] == [("loss", 3), ("loss", 4), ("acc", 0), ("acc", 1)]
    assert math.isnan(found[1]["value"]) and found[0]["time"].year == 2030
    checked = metric_points("train", 1, found)  # the archive's own checks pass
    assert len(checked) == 4


def test_unreadable_lines_are_counted_not_fatal():
    lines = ['{"name": "loss", "step": 1, "val', '[1, 2]', '{"name": "bad name", "value": 1}', '{"name": "x", "value": true}',
             '{"name": "x", "step": 1.5, "value": 1}', b'\xff\xfe', '{"name": "ok", "step": 1, "value": 2}']
    found, skipped = points(lines)
    assert [p["name"] for p in found] == ["ok"] and skipped == 6


def test_batches_are_bounded():
    found = [{"name": "m", "step": i, "value": 0.0} for i in range(25)]
    assert [len(b) for b in batches(found, size=10)] == [10, 10, 5]
