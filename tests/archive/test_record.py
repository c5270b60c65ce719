"""archive_record and merge_events: the pure extraction of an archive row from an Experiment object."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from kuberun_operator.archive import InvalidRecord, RecordTooLarge, archive_record, limits
from kuberun_operator.archive.record import merge_events

from .builders import T0, event, experiment


def test_columns_come_from_metadata_spec_status_and_lineage() -> None:
    obj = experiment("sweep", namespace="ml", title="LR sweep", submitter="bob", phase="Failed",
                     labels={"team": "vision"}, finished=T0 + timedelta(hours=2),
                     reproduced_from=("uid-of-origin", "sweep-original"))
    rec = archive_record(obj, [event("e1", "Created", T0)], archived_at=T0 + timedelta(days=1))
    assert (rec.namespace, rec.name, rec.uid) == ("ml", "sweep", obj["metadata"]["uid"])
    assert (rec.title, rec.submitter, rec.phase) == ("LR sweep", "bob", "Failed")
    assert rec.created == T0 and rec.finished == T0 + timedelta(hours=2)
    assert rec.archived_at == T0 + timedelta(days=1)
    assert (rec.reproduced_from_uid, rec.reproduced_from_name) == ("uid-of-origin", "sweep-original")
    assert rec.labels["team"] == "vision"
    assert rec.events == [event("e1", "Created", T0)]
    # managedFields is dropped; everything else in metadata is kept as it was.
    assert "managedFields" not in rec.metadata
    assert {k: v for k, v in obj["metadata"].items() if k != "managedFields"} == rec.metadata


def test_to_object_gives_back_the_experiment_without_server_bookkeeping() -> None:
    obj = experiment()
    back = archive_record(obj).to_object()
    assert back["spec"] == obj["spec"] and back["status"] == obj["status"]
    assert back["metadata"]["uid"] == obj["metadata"]["uid"] and "managedFields" not in back["metadata"]


def test_submitter_falls_back_to_the_label_and_unknown_shapes_are_tolerated() -> None:
    obj = experiment(submitter=None, labels={"kuberun.dev/submitted-by": "carol"}, phase=None)
    obj["spec"]["title"] = {"not": "a string"}     # a newer SDK's shape: kept in spec, no title column
    rec = archive_record(obj)
    assert rec.submitter == "carol" and rec.phase is None and rec.status is None and rec.finished is None
    assert rec.title == "" and rec.spec["title"] == {"not": "a string"}


def test_deletion_timestamp_is_recorded() -> None:
    rec = archive_record(experiment(deleted=T0 + timedelta(days=3)))
    assert rec.deleted == T0 + timedelta(days=3)


@pytest.mark.parametrize("missing", ["uid", "namespace", "name", "creationTimestamp"])
def test_identity_is_required(missing: str) -> None:
    obj = experiment()
    del obj["metadata"][missing]
    with pytest.raises(InvalidRecord, match=missing):
        archive_record(obj)


@pytest.mark.parametrize("bad", [None, [], "text", {"metadata": "x"}, {"metadata": {}}])
def test_non_objects_are_refused_with_a_clear_error(bad: object) -> None:
    with pytest.raises(InvalidRecord, match="cannot archive"):
        archive_record(bad)  # type: ignore[arg-type]


def test_spec_over_the_bound_is_refused_naming_the_field() -> None:
    obj = experiment()
    obj["spec"]["description"] = "x" * limits.MAX_DOCUMENT_BYTES
    with pytest.raises(RecordTooLarge, match=r"spec is \d+ bytes") as caught:
        archive_record(obj)
    assert caught.value.field == "spec" and caught.value.limit == limits.MAX_DOCUMENT_BYTES


def test_merge_keeps_each_event_once_newest_copy_wins_oldest_first() -> None:
    old = [event("a", "Created", T0), event("b", "Started", T0 + timedelta(seconds=5))]
    new = [event("b", "Started", T0 + timedelta(seconds=9), count=3), event("c", "Succeeded", T0 + timedelta(minutes=1))]
    merged, dropped = merge_events(old, new)
    assert [e["metadata"]["uid"] for e in merged] == ["a", "b", "c"]
    assert merged[1]["count"] == 3 and dropped == 0


def test_merge_bounds_count_and_bytes_dropping_the_oldest() -> None:
    many = [event(f"e{i}", "Tick", T0 + timedelta(seconds=i)) for i in range(limits.MAX_EVENTS + 5)]
    merged, dropped = merge_events([], many)
    assert len(merged) == limits.MAX_EVENTS and dropped == 5
    assert merged[0]["metadata"]["uid"] == "e5" and merged[-1] == many[-1]
    big = [event(f"b{i}", "Log", T0 + timedelta(seconds=i), message="m" * 100_000) for i in range(20)]
    merged, dropped = merge_events([], big, dropped_before=2)
    size = sum(len(json.dumps(e, separators=(",", ":"))) + 1 for e in merged)
    assert size <= limits.MAX_EVENTS_BYTES and dropped == 2 + 20 - len(merged) and merged[-1] == big[-1]
