"""The operator's election and client flags: what is accepted, what is refused with a reason."""

from __future__ import annotations

import pytest

from kuberun_operator.__main__ import parse_args


def test_defaults_are_client_go_durations_and_an_unelected_operator():
    s = parse_args([])
    assert (s.leader_election, s.lease_duration, s.renew_deadline, s.retry_period) == (False, 15.0, 10.0, 2.0)
    assert (s.shards, s.shard_index, s.api_qps, s.api_burst) == (1, 0, 50.0, 100)


def test_a_pod_name_gives_its_ordinal_mod_shards():
    base = ["--leader-elect", "--shards", "2", "--shard-index"]
    assert parse_args([*base, "kr-kuberun-operator-3"]).shard_index == 1
    assert parse_args([*base, "1"]).shard_index == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--shards", "2"], "--shards needs --leader-elect"),
    (["--leader-elect", "--shards", "2", "--shard-index", "2"], "must be"),
    (["--leader-elect", "--shard-index", "pod"], "must be"),
    (["--leader-elect", "--renew-deadline", "20"], "--renew-deadline < --lease-duration"),
    (["--shards", "0"], "at least 1"),
])
def test_unsafe_flags_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err
