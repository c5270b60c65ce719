"""The operator's short-lived answer cache: age from the question, a falsy answer kept, bounded."""

from kuberun_operator.timedmemo import TimedMemo


def test_an_answer_is_fresh_for_ttl_seconds_from_when_it_was_asked():
    now = [100.0]
    memo = TimedMemo(5.0, clock=lambda: now[0])
    memo.remember("ns", {}, asked_at=98.0)  # an empty answer is an answer
    assert memo.fresh("ns") == {}
    now[0] = 102.9
    assert memo.fresh("ns") == {}
    now[0] = 103.0  # 5 s after the question, not after the answer
    assert memo.fresh("ns") is None
    assert TimedMemo(0.0, clock=lambda: 0.0).fresh("never") is None


def test_a_full_memo_forgets_everything_and_stays_bounded():
    memo = TimedMemo(60.0, clock=lambda: 0.0, max_entries=3)
    for key in "abc":
        memo.remember(key, key, asked_at=0.0)
    assert [memo.fresh(k) for k in "abc"] == ["a", "b", "c"]
    memo.remember("d", "d", asked_at=0.0)
    assert [memo.fresh(k) for k in "abcd"] == [None, None, None, "d"]
