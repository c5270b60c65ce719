"""The dashboard's drawings and record readers, from plain dicts: DAG layers, Gantt bars, plots, metrics, diffs."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from kuberun.ui import compare, data, graph, plot, timeline

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _t(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def _tasks(**deps: list[str]) -> list[dict]:
    return [{"name": name, "dependsOn": d} for name, d in deps.items()]


def test_layers_are_longest_paths_so_every_edge_points_right():
    tasks = _tasks(a=[], b=["a"], c=["a", "b"], d=[])
    g = graph.layout(tasks, {})
    layer = {n.name: n.layer for n in g.nodes}
    assert layer == {"a": 0, "b": 1, "c": 2, "d": 0}
    x = {n.name: n.x for n in g.nodes}
    assert all(x[e.source] < x[e.target] for e in g.edges)
    assert sorted((e.source, e.target) for e in g.edges) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_hello_shape_puts_the_join_between_its_parents():
    g = graph.layout(_tasks(pi=[], primes=[], report=["pi", "primes"]), {"pi": {"phase": "Succeeded"}})
    nodes = {n.name: n for n in g.nodes}
    assert nodes["pi"].phase == "Succeeded" and nodes["report"].phase == "Pending"
    assert nodes["pi"].y < nodes["report"].y + graph.NODE_H / 2 < nodes["primes"].y + graph.NODE_H
    assert g.width >= nodes["report"].x + graph.NODE_W and g.height >= nodes["primes"].y + graph.NODE_H


def test_barycenter_orders_a_layer_by_its_parents():
    # c's parent is listed second and d's first: d must be drawn above c
    g = graph.layout(_tasks(p=[], q=[], c=["q"], d=["p"]), {})
    y = {n.name: n.y for n in g.nodes}
    assert y["d"] < y["c"]


def test_a_damaged_record_with_a_cycle_or_unknown_dependency_still_draws():
    g = graph.layout(_tasks(a=["b"], b=["a"], c=["ghost"]), {})
    assert {n.name for n in g.nodes} == {"a", "b", "c"}
    assert all(e.target != "ghost" and e.source != "ghost" for e in g.edges)


def _obj(attempts: dict[str, list[dict]]) -> dict:
    return {"metadata": {"name": "x", "namespace": "ns"}, "spec": {"tasks": [{"name": n} for n in attempts]},
            "status": {"tasks": [{"name": n, "phase": a[-1]["phase"], "attempt": len(a), "attempts": a} for n, a in attempts.items()]}}


def test_timeline_has_a_bar_per_attempt_and_retries_share_the_row():
    obj = _obj({
        "flaky": [{"attempt": 1, "phase": "Failed", "startTime": _t(0), "finishTime": _t(10), "exitCode": 3, "reason": "Error",
                   "backendRef": {"backend": "kubernetes", "idempotencyKey": "k1"}},
                  {"attempt": 2, "phase": "Succeeded", "startTime": _t(20), "finishTime": _t(40),
                   "backendRef": {"backend": "slurm", "cluster": "dgx", "idempotencyKey": "k2"}}],
        "slow": [{"attempt": 1, "phase": "Running", "startTime": _t(5)}],
    })
    line = timeline.build(obj, now=T0 + timedelta(seconds=80))
    bars = {(b.task, b.attempt): b for b in line.bars}
    assert set(bars) == {("flaky", 1), ("flaky", 2), ("slow", 1)}
    first, second = bars["flaky", 1], bars["flaky", 2]
    assert first.y == second.y and first.x + first.width < second.x
    assert second.backend == "slurm/dgx" and first.exit_code == 3
    assert bars["slow", 1].running and "so far" in bars["slow", 1].label
    # the running bar reaches "now" (80 s), the end of the axis; widths are proportional to durations
    assert bars["slow", 1].x + bars["slow", 1].width == pytest.approx(timeline.LABEL_W + timeline.PAD + timeline.CHART_W)
    assert second.width == pytest.approx(2 * first.width)


def test_timeline_without_attempts_has_rows_and_no_bars():
    line = timeline.build({"metadata": {}, "spec": {"tasks": [{"name": "a"}]}})
    assert [r[0] for r in line.rows] == ["a"] and line.bars == []


def test_metrics_come_from_each_tasks_latest_attempt_with_metrics_and_bad_parts_are_skipped():
    obj = {"status": {"tasks": [
        {"name": "train", "attempts": [{"attempt": 1, "metrics": {"loss": {"value": 9.0}}},
                                       {"attempt": 2, "metrics": {"loss": {"value": 1.0, "step": 10}, "acc": {"value": 0.9},
                                                                  "bad": "high", "nan": {"special": "NaN"}}},
                                       {"attempt": 3}]},
        {"name": "eval", "attempts": [{"attempt": 1, "metrics": {"f1": {"value": 0.5, "step": 1}}}]}]}}
    found = data.metrics_of(obj)
    assert {k: v for k, v in found.items() if k != "train/nan"} == {
        "train/loss": [(10, 1.0)], "train/acc": [(0, 0.9)], "eval/f1": [(1, 0.5)]}
    assert math.isnan(found["train/nan"][0][1]) and data.last_values(obj)["train/loss"] == 1.0
    # The stopgap annotation is no longer read: the record is the one source.
    assert data.metrics_of({"metadata": {"annotations": {"kuberun.dev/metrics": '{"t": {"x": 1}}'}}}) == {}


def test_plot_maps_every_series_to_the_shared_axes_and_drops_non_finite_points():
    p = plot.build("loss", [("a", [(0, 1.0), (10, 0.0)]), ("b", [(0, 2.0), (5, math.nan), (10, 1.0)])])
    assert p.x_range == (0, 10) and p.y_range == (0.0, 2.0)
    a, b = p.lines
    assert len(a.points.split()) == 2 and len(b.points.split()) == 2 and b.dropped == 1
    top = float(b.points.split()[0].split(",")[1])
    bottom = float(a.points.split()[1].split(",")[1])
    assert top == pytest.approx(plot.PAD_T) and bottom == pytest.approx(plot.H - plot.PAD_B)


def test_config_alignment_marks_only_the_changed_lines():
    left = ["Partial[m:f]", "  lr = 0.1", "  steps = 10"]
    right = ["Partial[m:f]", "  lr = 0.001", "  steps = 10", "  extra = 1"]
    rows = compare.align(left, right)
    assert rows == [("Partial[m:f]", "Partial[m:f]", False), ("  lr = 0.1", "  lr = 0.001", True),
                    ("  steps = 10", "  steps = 10", False), (None, "  extra = 1", True)]


def test_the_record_servers_series_decode_with_non_finite_values_and_bad_items_skipped():
    doc = {"items": [{"task": "t", "name": "loss", "points": [[0, 1.0], [1, "NaN"], [2, "Infinity"], [3, "x"], ["4", 1.0], [5]]},
                     {"task": "t", "name": "bad", "points": "no"}, "junk", {"task": "t", "name": "empty", "points": []}]}
    found = data.decode_series(doc)
    assert list(found) == ["t/loss"]
    assert found["t/loss"][0] == (0, 1.0) and math.isnan(found["t/loss"][1][1]) and found["t/loss"][2] == (2, math.inf)
    assert len(found["t/loss"]) == 3
    assert data.decode_series({"items": None}) == {} and data.decode_series("nonsense") == {}  # type: ignore[arg-type]


def test_a_plots_table_fallback_is_bounded_and_keeps_the_ends():
    p = plot.build("loss", [("a", [(s, float(s)) for s in range(1000)]), ("b", [(0, 1.0), (1, 0.5)])])
    long, short = p.lines
    assert long.count == 1000 and len(long.points.split()) == 1000
    assert len(long.table) == plot.TABLE_POINTS and long.table[0] == (0, 0.0) and long.table[-1] == (999, 999.0)
    assert short.table == [(0, 1.0), (1, 0.5)]


def test_a_metric_with_only_non_finite_values_has_lines_without_points():
    p = plot.build("diverged", [("a", [(0, math.nan)])])
    assert [(line.count, line.dropped, line.points) for line in p.lines] == [(0, 1, "")]
