"""Recording experiments: idempotent upserts by uid, lookups by name and uid, documents kept as written."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kuberun_operator.archive import Archive, RecordTooLarge, limits
from kuberun_operator.archive.record import compact_json
from kuberun_operator.archive.schema import experiments, labels

from .builders import T0, event, experiment, rfc3339


def _count(archive: Archive, table: sa.Table) -> int:
    with archive._engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_recording_twice_keeps_one_row_and_the_latest_state(archive: Archive) -> None:
    running = experiment(phase="Running", labels={"stage": "one"})
    uid = running["metadata"]["uid"]
    archive.record(running)
    done = experiment(uid=uid, phase="Succeeded", labels={"stage": "two"})
    archive.record(done)
    assert _count(archive, experiments) == 1
    got = archive.get_uid(uid)
    assert got is not None and got.phase == "Succeeded" and got.status == done["status"]
    assert got.labels == {"stage": "two"} and got.finished is not None
    assert archive.query(labels={"stage": "one"})[0] == []      # the label rows follow the latest record
    assert _count(archive, labels) == 1


def test_finishing_then_deleting_is_one_row_with_the_final_state_and_every_event(archive: Archive) -> None:
    finished = experiment(phase="Succeeded")
    uid = finished["metadata"]["uid"]
    archive.record(finished, [event("e1", "Created", T0), event("e2", "Succeeded", T0 + timedelta(minutes=5))])
    # An hour later the Events above have expired; deletion brings only its own.
    deleting = experiment(uid=uid, phase="Succeeded", deleted=T0 + timedelta(hours=2))
    stored = archive.record(deleting, [event("e3", "Deleting", T0 + timedelta(hours=2))])
    assert _count(archive, experiments) == 1
    got = archive.get_uid(uid)
    assert got is not None and got.deleted == T0 + timedelta(hours=2) and got.status == finished["status"]
    assert [e["reason"] for e in got.events or []] == ["Created", "Succeeded", "Deleting"]
    assert stored.events == got.events
    # A late duplicate of the pre-deletion record does not forget that it was deleted.
    archive.record(finished)
    again = archive.get_uid(uid)
    assert again is not None and again.deleted == T0 + timedelta(hours=2) and len(again.events or []) == 3


def test_concurrent_recorders_of_one_uid_lose_no_event(archive: Archive) -> None:
    obj = experiment()
    errors: list[BaseException] = []

    def record(i: int) -> None:
        try:
            archive.record(obj, [event(f"e{i}", f"R{i}", T0 + timedelta(seconds=i))])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=record, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    got = archive.get_uid(obj["metadata"]["uid"])
    assert got is not None and sorted(e["reason"] for e in got.events or []) == [f"R{i}" for i in range(6)]


def test_get_by_name_returns_the_newest_of_reused_names(archive: Archive) -> None:
    old = experiment("nightly", created=T0, title="monday")
    new = experiment("nightly", created=T0 + timedelta(days=1), title="tuesday")
    other_ns = experiment("nightly", namespace="team-b", created=T0 + timedelta(days=2), title="elsewhere")
    for obj in (new, old, other_ns):
        archive.record(obj)
    got = archive.get("team-a", "nightly")
    assert got is not None and got.uid == new["metadata"]["uid"] and got.title == "tuesday"
    assert got.spec == new["spec"] and got.metadata is not None and got.events == []
    assert archive.get("team-a", "absent") is None and archive.get_uid("no-such-uid") is None


def test_lineage_is_queryable(archive: Archive) -> None:
    origin = experiment("base")
    copy = experiment("base-repro", reproduced_from=(origin["metadata"]["uid"], "base"))
    archive.record(origin)
    archive.record(copy)
    got = archive.get("team-a", "base-repro")
    assert got is not None
    assert (got.reproduced_from_uid, got.reproduced_from_name) == (origin["metadata"]["uid"], "base")


@pytest.mark.parametrize("title", ["Ünïcødé 実験 🚀", "Stra\u00dfe \u2014 \u03bd\u03b1\u03b9", "tab\tand \"quotes\" and \\ and %_"])
def test_unicode_titles_round_trip_and_match_case_insensitively(archive: Archive, title: str) -> None:
    obj = experiment(title=title)
    archive.record(obj)
    got = archive.get_uid(obj["metadata"]["uid"])
    assert got is not None and got.title == title and got.spec == obj["spec"]
    needle = title[2:9].upper()
    items, _ = archive.query(title=needle)
    assert [i.uid for i in items] == [obj["metadata"]["uid"]]


def test_status_with_unknown_fields_round_trips_byte_for_byte(archive: Archive) -> None:
    """What a newer operator wrote (fields, nesting, key order, numbers) comes back exactly."""
    extra = {"zFutureField": {"b": 2, "a": [1, 2.5, None, True, "ü"]}, "resultsV2": {"loss": 0.1, "tiny": 1e-300,
             "big": 2**62, "neg": -0.0}, "aaa": "kept before phase? no: after, as written"}
    obj = experiment(status_extra=extra)
    obj["status"]["tasks"][0]["futureTaskField"] = {"nested": {"deep": ["x"]}}
    obj["spec"]["futureSpecField"] = {"k": "v"}
    archive.record(obj)
    got = archive.get_uid(obj["metadata"]["uid"])
    assert got is not None
    assert json.dumps(got.status) == json.dumps(obj["status"])       # same keys, same order, same numbers
    assert json.dumps(got.spec) == json.dumps(obj["spec"])
    # And the stored text itself is the compact serialization of what was recorded.
    with archive._engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT CAST(status AS TEXT) FROM archive_experiments WHERE uid = :uid"),
                           {"uid": obj["metadata"]["uid"]}).scalar_one()
    assert raw.encode() == compact_json(obj["status"])


def test_large_but_bounded_spec_is_kept_and_an_oversized_one_refused(archive: Archive) -> None:
    big = experiment("big")
    # ~1.5 MiB of inline configs: what the largest object etcd accepts could carry.
    big["spec"]["tasks"] = [{"name": f"t{i}", "fiddle": {"encoding": "fiddle-json+zlib+base64",
                                                         "data": f"{i:04d}" + "A" * 24_000}} for i in range(64)]
    assert 1_400_000 < len(compact_json(big["spec"])) < limits.MAX_DOCUMENT_BYTES
    archive.record(big)
    got = archive.get("team-a", "big")
    assert got is not None and got.spec == big["spec"]
    huge = experiment("huge")
    huge["spec"]["description"] = "y" * (limits.MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(RecordTooLarge, match="spec"):
        archive.record(huge)
    assert archive.get("team-a", "huge") is None


def test_archived_at_comes_from_the_injected_clock(archive_url: str) -> None:
    when = T0 + timedelta(days=30)
    with Archive.open(archive_url, clock=lambda: when) as archive:
        obj = experiment()
        archive.record(obj)
        got = archive.get_uid(obj["metadata"]["uid"])
    assert got is not None and got.archived_at == when
    assert rfc3339(got.created) == obj["metadata"]["creationTimestamp"]
