"""A wide fan-out's Events: the first ten of a kind as they are, the rest combined with a count."""

from __future__ import annotations

from kuberun_operator.actions import Event
from kuberun_operator.eventbatch import MAX_SIMILAR, PREFIX, coalesce


def _succeeded(i: int) -> Event:
    return Event("Normal", "TaskSucceeded", f"task 't{i}' attempt 1 succeeded")


def test_a_few_events_pass_unchanged_in_order():
    events = [_succeeded(0), Event("Warning", "TaskFailed", "task 'x' failed"), _succeeded(1)]
    assert coalesce(events) == events


def test_a_thousand_similar_events_become_ten_and_one_combined_that_counts_the_rest():
    events = [_succeeded(i) for i in range(999)] + [Event("Normal", "ExperimentSucceeded", "all 1000 tasks succeeded")]
    out = coalesce(events)
    assert out[:MAX_SIMILAR] == events[:MAX_SIMILAR]
    combined = out[MAX_SIMILAR]
    assert combined.reason == "TaskSucceeded" and combined.count == 999 - MAX_SIMILAR
    assert combined.message == PREFIX + "task 't998' attempt 1 succeeded"  # the latest, like client-go
    assert out[-1] == events[-1] and len(out) == MAX_SIMILAR + 2
    assert sum(e.count for e in out) == len(events)  # every Event is accounted for


def test_kinds_are_combined_separately_and_warnings_are_not_mixed_with_normal_events():
    events = [Event("Warning", "TaskSucceeded", "odd") for _ in range(12)] + [_succeeded(i) for i in range(12)]
    out = coalesce(events)
    assert [(e.type, e.count) for e in out if e.count > 1] == [("Warning", 2), ("Normal", 2)]
