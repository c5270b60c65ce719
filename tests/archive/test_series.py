"""Metric series and log/artifact locations: stored per attempt, idempotent, checked."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta
from typing import Any

import pytest

from kuberun_operator.archive import Archive, InvalidRecord, MetricPoint, limits

from .builders import T0

UID = "0b8f6c3e-1111-4aaa-8bbb-222233334444"


def test_metric_series_round_trip_by_task_attempt_name_and_step(archive: Archive) -> None:
    train0 = [{"name": "loss", "step": s, "value": 1.0 / (s + 1), "time": T0 + timedelta(seconds=s)} for s in range(50)]
    train1 = [{"name": "loss", "step": s, "value": 0.5 / (s + 1)} for s in range(10)]
    acc = [MetricPoint("ignored", 9, "acc", 3, 0.75, None), {"name": "acc", "step": 1, "value": 1}]
    assert archive.record_metrics(UID, "train", 0, train0) == 50
    assert archive.record_metrics(UID, "train", 1, train1) == 10
    assert archive.record_metrics(UID, "eval", 0, acc) == 2
    got = archive.metrics(UID)
    assert len(got) == 62
    assert [(p.task, p.attempt, p.name) for p in got[:2]] == [("eval", 0, "acc"), ("eval", 0, "acc")]
    assert [p.step for p in got[:2]] == [1, 3] and got[1].value == 0.75
    first_train = [p for p in got if p.task == "train" and p.attempt == 0]
    assert [(p.step, p.value, p.time) for p in first_train] == [(d["step"], d["value"], d["time"]) for d in train0]
    assert [p.value for p in archive.metrics(UID, task="train", name="loss") if p.attempt == 1] == [d["value"] for d in train1]
    assert archive.metrics("another-uid") == []


def test_recording_a_series_again_keeps_one_point_per_step_latest_wins(archive: Archive) -> None:
    archive.record_metrics(UID, "train", 0, [{"name": "loss", "step": s, "value": 1.0} for s in range(5)])
    archive.record_metrics(UID, "train", 0, [{"name": "loss", "step": s, "value": 2.0} for s in range(3, 8)])
    got = archive.metrics(UID)
    assert [(p.step, p.value) for p in got] == [(s, 1.0 if s < 3 else 2.0) for s in range(8)]


def test_non_finite_and_extreme_values_survive(archive: Archive) -> None:
    values = [math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308, -0.0, 2**53 + 1]
    archive.record_metrics(UID, "t", 0, [{"name": "v", "step": i, "value": v} for i, v in enumerate(values)])
    got = [p.value for p in archive.metrics(UID)]
    assert math.isnan(got[0]) and got[1:] == [float(v) for v in values[1:]]


@pytest.mark.parametrize(("point", "message"), [
    ({"name": "", "step": 0, "value": 1}, "name"),
    ({"name": "x" * (limits.MAX_NAME + 1), "step": 0, "value": 1}, "name"),
    ({"name": "loss", "step": 1.5, "value": 1}, "step"),
    ({"name": "loss", "step": 2**63, "value": 1}, "step"),
    ({"name": "loss", "step": 0, "value": "0.1"}, "value"),
    ({"name": "loss", "step": 0, "value": True}, "value"),
    ({"name": "loss", "step": 0, "value": 1, "time": "yesterday"}, "time"),
    ({"name": "loss", "value": 1}, "lacks step"),
])
def test_bad_points_are_refused_and_nothing_of_the_batch_is_stored(archive: Archive, point: dict[str, Any],
                                                                   message: str) -> None:
    with pytest.raises(InvalidRecord, match=message):
        archive.record_metrics(UID, "t", 0, [{"name": "ok", "step": 0, "value": 1}, point])
    assert archive.metrics(UID) == []


def test_bad_keys_and_oversized_batches_are_refused(archive: Archive) -> None:
    with pytest.raises(InvalidRecord, match="attempt"):
        archive.record_metrics(UID, "t", -1, [])
    with pytest.raises(InvalidRecord, match="task"):
        archive.record_metrics(UID, "", 0, [])
    endless = ({"name": "x", "step": i, "value": 0.0} for i in range(10**9))
    with pytest.raises(InvalidRecord, match="batches"):
        archive.record_metrics(UID, "t", 0, endless)


def test_locations_round_trip_and_are_idempotent_by_kind_and_url(archive: Archive) -> None:
    digest = hashlib.sha256(b"log text").hexdigest()
    archive.record_location(UID, "train", 0, "log", "file:///var/kuberun/logs/train-0.log", 8, digest)
    archive.record_locations(UID, "train", 0, [("artifact", f"s3://bucket/{UID}/train/0/ckpt-{i}.pt", 1000 + i, None)
                                              for i in range(3)])
    archive.record_location(UID, "train", 1, "log", "file:///var/kuberun/logs/train-1.log")
    # The copy is redone after a restart: same (kind, url), newer size and digest.
    archive.record_location(UID, "train", 0, "log", "file:///var/kuberun/logs/train-0.log", 16, "f" * 64)
    got = archive.locations(UID)
    assert [(x.task, x.attempt, x.kind) for x in got] == [("train", 0, "artifact")] * 3 + [("train", 0, "log"),
                                                                                         ("train", 1, "log")]
    log0 = got[3]
    assert (log0.size, log0.sha256) == (16, "f" * 64) and log0.recorded_at is not None
    assert [x.url for x in archive.locations(UID, kind="log")] == [got[3].url, got[4].url]
    assert got[4].size is None and got[4].sha256 is None


@pytest.mark.parametrize(("args", "message"), [
    (("dump", "file:///x", None, None), "kind"),
    (("log", "", None, None), "url"),
    (("log", "file:///" + "x" * limits.MAX_URL, None, None), "url"),
    (("log", "file:///x", -1, None), "size"),
    (("log", "file:///x", None, "ABC"), "sha256"),
])
def test_bad_locations_are_refused(archive: Archive, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidRecord, match=message):
        archive.record_location(UID, "t", 0, *args)
    assert archive.locations(UID) == []
