"""Queries: every filter, their combination, and keyset paging that stays consistent while rows are added.

Expected answers are computed from the same dataset with plain Python predicates, never written out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from kuberun_operator.archive import Archive, InvalidContinueToken, InvalidQuery, limits

from .builders import T0, experiment

NAMESPACES = ["team-a", "team-b"]
USERS = ["alice", "bob", "carol"]
PHASES = ["Succeeded", "Failed", "Cancelled", "Running"]
TITLES = ["ResNet sweep", "resnet ablation", "BERT finetune", "Diffusion 実験", "bert pretrain", "misc"]


@dataclass
class Row:
    uid: str
    namespace: str
    title: str
    submitter: str
    phase: str
    labels: dict[str, str]
    created: datetime


def _dataset(archive: Archive, n: int = 18) -> list[Row]:
    rows = []
    for i in range(n):
        labels = {"team": ["vision", "nlp"][i % 2], "tier": ["gold", "silver", "bronze"][i % 3]}
        # Every third experiment shares its creation second with the previous one: uid breaks ties.
        created = T0 + timedelta(minutes=i - (i % 3 == 2))
        obj = experiment(f"exp-{i}", namespace=NAMESPACES[i % 2 if i % 5 else 0], title=TITLES[i % len(TITLES)],
                         submitter=USERS[i % 3], phase=PHASES[i % 4], labels=labels, created=created)
        archive.record(obj)
        meta = obj["metadata"]
        rows.append(Row(meta["uid"], meta["namespace"], obj["spec"]["title"], USERS[i % 3], PHASES[i % 4], labels, created))
    return rows


def _newest_first(rows: list[Row]) -> list[str]:
    return [r.uid for r in sorted(rows, key=lambda r: (r.created, r.uid), reverse=True)]


def _all_pages(archive: Archive, limit: int, **filters: Any) -> list[str]:
    uids: list[str] = []
    token = None
    for _ in range(1000):                       # bounded: far more pages than any test makes
        items, token = archive.query(limit=limit, continue_token=token, **filters)
        uids += [i.uid for i in items]
        if token is None:
            return uids
    raise AssertionError("paging did not end")


CASES: dict[str, tuple[dict[str, Any], Callable[[Row], bool]]] = {
    "everything": ({}, lambda r: True),
    "namespace": ({"namespace": "team-b"}, lambda r: r.namespace == "team-b"),
    "title substring, any case": ({"title": "RESNET"}, lambda r: "resnet" in r.title.casefold()),
    "title unicode": ({"title": "実験"}, lambda r: "実験" in r.title),
    "title with LIKE metacharacters matches literally": ({"title": "%"}, lambda r: "%" in r.title),
    "submitter": ({"submitter": "bob"}, lambda r: r.submitter == "bob"),
    "one label": ({"labels": {"team": "nlp"}}, lambda r: r.labels["team"] == "nlp"),
    "two labels": ({"labels": {"team": "nlp", "tier": "gold"}},
                   lambda r: r.labels["team"] == "nlp" and r.labels["tier"] == "gold"),
    "absent label value": ({"labels": {"team": "robotics"}}, lambda r: False),
    "phase": ({"phase": "Failed"}, lambda r: r.phase == "Failed"),
    "phases": ({"phase": ["Failed", "Cancelled"]}, lambda r: r.phase in ("Failed", "Cancelled")),
    "since": ({"since": T0 + timedelta(minutes=7)}, lambda r: r.created >= T0 + timedelta(minutes=7)),
    "until": ({"until": T0 + timedelta(minutes=7)}, lambda r: r.created < T0 + timedelta(minutes=7)),
    "window": ({"since": T0 + timedelta(minutes=3), "until": T0 + timedelta(minutes=11)},
               lambda r: T0 + timedelta(minutes=3) <= r.created < T0 + timedelta(minutes=11)),
    "combined": ({"namespace": "team-a", "submitter": "alice", "labels": {"team": "vision"}, "phase": ["Succeeded", "Running"]},
                 lambda r: r.namespace == "team-a" and r.submitter == "alice" and r.labels["team"] == "vision"
                 and r.phase in ("Succeeded", "Running")),
}


def test_every_filter_alone_and_combined_newest_first(archive: Archive) -> None:
    rows = _dataset(archive)
    for case, (filters, predicate) in CASES.items():
        expected = _newest_first([r for r in rows if predicate(r)])
        items, token = archive.query(**filters)
        assert [i.uid for i in items] == expected, case
        assert token is None, case
        # The same answer, a page of 4 at a time.
        assert _all_pages(archive, 4, **filters) == expected, case


def test_summaries_leave_out_large_documents_and_full_keeps_them(archive: Archive) -> None:
    _dataset(archive, n=3)
    summary, _ = archive.query(limit=1)
    assert summary[0].spec is None and summary[0].events is None and summary[0].metadata is None
    assert summary[0].status is not None and summary[0].status["phase"]
    full, _ = archive.query(limit=1, full=True)
    assert full[0].uid == summary[0].uid and full[0].spec is not None and full[0].events == []


def test_paging_while_rows_are_added_has_no_duplicates_or_gaps(archive: Archive) -> None:
    rows = _dataset(archive, n=20)
    existing = _newest_first(rows)
    seen: list[str] = []
    added_older: list[str] = []
    items, token = archive.query(limit=6)
    seen += [i.uid for i in items]
    for round_ in range(100):                   # bounded; the loop ends when the pages do
        # Between pages: newer experiments (before the cursor), older ones (after it), a rewrite.
        newer = experiment(f"newer-{round_}", created=T0 + timedelta(days=1, minutes=round_))
        older = experiment(f"older-{round_}", created=T0 - timedelta(days=1, minutes=round_))
        archive.record(newer)
        archive.record(older)
        added_older.append(older["metadata"]["uid"])
        # Rewrite one row already paged past and one not yet reached: neither moves.
        for rewritten in (next(r for r in reversed(rows) if r.uid in seen),
                          next((r for r in rows if r.uid not in seen), rows[0])):
            archive.record(experiment(f"again-{round_}", uid=rewritten.uid, created=rewritten.created, phase="Failed"))
        if token is None:
            break
        items, token = archive.query(limit=6, continue_token=token)
        seen += [i.uid for i in items]
    assert len(seen) == len(set(seen)), "a row came twice"
    assert seen[:len(existing)] == existing, "rows that were there are all seen once, in order"
    # Older rows recorded before the pages reached them appear after; newer ones never do.
    assert set(seen[len(existing):]) <= set(added_older) and all(not u.startswith("newer") for u in seen)


def test_tokens_are_bound_to_their_query_and_validated(archive: Archive) -> None:
    _dataset(archive, n=6)
    _, token = archive.query(limit=2)
    assert token is not None
    with pytest.raises(InvalidContinueToken, match="different filters"):
        archive.query(limit=2, submitter="alice", continue_token=token)
    for bad in ["garbage!", "e30", token[:-3] + "AAA", "x" * 5000]:
        with pytest.raises(InvalidContinueToken):
            archive.query(limit=2, continue_token=bad)
    # The page size may change between pages; the filters may not.
    items, _ = archive.query(limit=3, continue_token=token)
    assert len(items) == 3


@pytest.mark.parametrize("bad", [
    {"limit": 0}, {"limit": limits.MAX_LIMIT + 1}, {"limit": "10"}, {"since": datetime(2026, 1, 1)},
    {"until": "yesterday"}, {"labels": {"team": 3}}, {"phase": []}, {"namespace": 7},
])
def test_bad_query_arguments_are_refused_clearly(archive: Archive, bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidQuery):
        archive.query(**bad)
