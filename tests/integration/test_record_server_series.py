"""The record server's metric-series route (what the dashboard's compare plots read), on a sandbox with two users.

Series are written where the operator leaves them — points in the archive, ``metrics.jsonl`` beside an
attempt's log in the store — with the archive and store APIs. The route must authenticate and authorize
as the other routes do, prefer the archive, fall back to the store, show only each task's latest attempt,
and stay bounded whatever a task logged.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
import urllib3

from kuberun.api import connect
from kuberun.errors import ForbiddenError, ObjectNotFoundError
from kuberun.manage.records import RecordClient, discover
from kuberun.resource import recordserver as contract
from tests.helpers import records

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")

SECRET = "bob-secret-series-title"


def _put_series(store_dir: Any, obj: dict[str, Any], attempt: int, lines: list[str]) -> None:
    from kuberun_operator.logstore import LogStore, paths

    meta = obj["metadata"]
    key = paths.join(paths.attempt_prefix(meta["namespace"], meta["name"], meta["uid"], "train", attempt), "metrics.jsonl")
    asyncio.run(LogStore.from_url(str(store_dir)).put_bytes(key, "".join(line + "\n" for line in lines).encode()))


def _retried(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with a failed attempt 0 before the succeeded attempt 1."""
    task = obj["status"]["tasks"][0]
    second = json.loads(json.dumps(task["attempts"][0]))
    task["attempts"][0]["phase"] = "Failed"
    second["attempt"] = 1
    task["attempts"].append(second)
    task["attempt"] = 1
    return obj


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kuberun_operator.archive import Archive
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path_factory.mktemp("series"), operator=False, record_server=True) as sb:
        assert sb.record_server is not None, sb.record_server_error
        alice, _ = sb.mint_user("alice", namespace="team-a"), sb.mint_user("bob", namespace="team-b")
        in_archive = records.experiment("team-a", "alice-archive-series")
        in_store = _retried(records.experiment("team-a", "alice-store-series"))
        theirs = records.experiment("team-b", SECRET)
        for obj in (in_archive, in_store, theirs):
            records.archive(sb.archive_url, sb.log_store_dir, obj)
        with Archive.open(sb.archive_url) as db:
            db.record_metrics(in_archive["metadata"]["uid"], "train", 0,
                              [{"name": "loss", "step": s, "value": 1.0 / (s + 1)} for s in range(4)])
            db.record_metrics(theirs["metadata"]["uid"], "train", 0, [{"name": "loss", "step": 0, "value": 0.5}])
        _put_series(sb.log_store_dir, in_store, 0, [json.dumps({"name": "loss", "step": s, "value": 9.0}) for s in range(3)])
        _put_series(sb.log_store_dir, in_store, 1, [
            *(json.dumps({"name": "loss", "step": s, "value": float(s)}) for s in range(3000)),
            json.dumps({"name": "diverged", "step": None, "value": "NaN"}),
            '{"name": "torn', "not json at all"])
        yield {"alice": alice, "in_archive": in_archive, "in_store": in_store, "theirs": theirs}


def _client(world: Any) -> RecordClient:
    return RecordClient(connect(str(world["alice"])))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
def test_no_valid_token_is_401(world: Any, headers: dict[str, str]) -> None:
    from kuberun.api.kubeconfig import data_file

    url, ca = discover(connect(str(world["alice"])))
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=data_file(ca.encode(), ".crt"), retries=False)
    resp = pool.request("GET", url + contract.metrics_path("team-b", world["theirs"]["metadata"]["name"]),
                        headers=headers, timeout=30.0)
    assert resp.status == 401
    assert SECRET.encode() not in resp.data and b"loss" not in resp.data


def test_another_tenants_series_is_403_and_looks_like_a_missing_one(world: Any) -> None:
    client = _client(world)
    with pytest.raises(ForbiddenError) as real:
        client.metric_series("team-b", world["theirs"]["metadata"]["name"])
    with pytest.raises(ForbiddenError) as missing:
        client.metric_series("team-b", "no-such-experiment")
    assert str(real.value).replace(world["theirs"]["metadata"]["name"], "X") == str(missing.value).replace("no-such-experiment", "X")
    assert SECRET not in str(real.value)


def test_an_unknown_experiment_is_404(world: Any) -> None:
    with pytest.raises(ObjectNotFoundError):
        _client(world).metric_series("team-a", "no-such-experiment")


def test_the_archives_points_are_answered_first(world: Any) -> None:
    doc = _client(world).metric_series("team-a", world["in_archive"]["metadata"]["name"])
    assert doc["kind"] == "MetricSeries" and doc["source"] == "archive"
    assert [(i["task"], i["attempt"], i["name"]) for i in doc["items"]] == [("train", 0, "loss")]
    assert doc["items"][0]["points"] == [[s, pytest.approx(1.0 / (s + 1))] for s in range(4)]


def test_the_store_series_of_the_latest_attempt_bounded_and_non_finite_as_strings(world: Any) -> None:
    from kuberun_operator.server.series import MAX_POINTS

    doc = _client(world).metric_series("team-a", world["in_store"]["metadata"]["name"])
    assert doc["source"] == "logstore"
    items = {i["name"]: i for i in doc["items"]}
    assert sorted(items) == ["diverged", "loss"]
    loss = items["loss"]
    assert loss["attempt"] == 1  # attempt 0's series (all 9.0) is not shown
    assert loss["thinned"] == 3000 and len(loss["points"]) == MAX_POINTS
    assert loss["points"][0] == [0, 0.0] and loss["points"][-1] == [2999, 2999.0]
    steps = [p[0] for p in loss["points"]]
    assert steps == sorted(set(steps))
    assert items["diverged"]["points"] == [[0, "NaN"]]
    assert not any(isinstance(v, float) and math.isnan(v) for _, v in loss["points"])
