"""The dashboard over the archive: archived experiments listed, shown and their logs read, as the user, through
the operator's record server — and another tenant's archived record refused without a leak."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import records
from tests.ui.helpers import Client, DashboardThread

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")

SECRET = "bob-private-title"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path_factory.mktemp("ui-archive"), operator=False, record_server=True) as sb:
        alice = sb.mint_user("alice", namespace="team-a")
        sb.mint_user("bob", namespace="team-b")
        mine, theirs = records.experiment("team-a", "alice-archived"), records.experiment("team-b", SECRET)
        records.archive(sb.archive_url, sb.log_store_dir, mine, b"archived line\n")
        records.archive(sb.archive_url, sb.log_store_dir, theirs, b"bob's line\n")
        with DashboardThread(alice, all_namespaces=True) as dashboard:
            yield {"dashboard": dashboard, "mine": mine["metadata"]["name"], "theirs": theirs["metadata"]["name"]}


@pytest.fixture
def client(world: dict[str, Any]) -> Client:
    return Client(world["dashboard"])


def test_the_archived_list_shows_only_what_the_user_may_list(world: dict[str, Any], client: Client) -> None:
    status, _, body = client.get("/?archived=1")
    assert status == 200
    assert re.findall(r'<tr data-name="([^"]+)"', body) == [world["mine"]]
    assert 'class="badge archived"' in body and "from the operator's archive" in body
    assert SECRET not in body


def test_an_archived_experiment_and_its_log_are_shown(world: dict[str, Any], client: Client) -> None:
    status, _, page = client.get(f"/exp/team-a/{world['mine']}")
    assert status == 200 and 'id="archived-notice"' in page and "alice-archived" in page
    status, _, log = client.get(f"/exp/team-a/{world['mine']}/logs/train")
    assert status == 200 and "archived line" in log


def test_another_tenants_archived_experiment_is_refused(world: dict[str, Any], client: Client) -> None:
    status, _, page = client.get(f"/exp/team-b/{world['theirs']}")
    assert status in (403, 404)
    assert SECRET not in page and "bob&#39;s line" not in page
