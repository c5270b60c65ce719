"""Reproductions recorded on the original's status.lineage (``kuberun_operator/lineage.py``), with the
attacks on it: a reproduction in another namespace, or naming a re-created original, writes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from kuberun.resource.constants import ANNOTATION_REPRODUCED_FROM_UID, LABEL_REPRODUCED_FROM
from kuberun.resource.status import MAX_LINEAGE
from tests.helpers.controller import Harness, harness, k8s_task


def reproduction(h: Harness, name: str, of: str = "exp", namespace: str = "ns", uid: str | None = "uid-exp") -> tuple[str, str]:
    body = h.kube.add_experiment(name, [k8s_task()], namespace=namespace)
    stored = h.kube.experiments[(namespace, name)]["metadata"]
    stored["labels"] = {LABEL_REPRODUCED_FROM: of}
    stored["creationTimestamp"] = f"2026-01-01T12:00:{len(h.kube.experiments):02d}Z"
    if uid is not None:
        stored["annotations"] = {ANNOTATION_REPRODUCED_FROM_UID: uid}
    return body["metadata"]["namespace"], name


async def reconcile(h: Harness, key: tuple[str, str]) -> None:
    h.controller.experiment_seen(h.kube.experiments[key])
    await h.controller.reconcile_key(key)
    await asyncio.sleep(0)


def lineage(h: Harness, key: tuple[str, str] = ("ns", "exp")) -> Any:
    return (h.kube.experiments[key].get("status") or {}).get("lineage")


async def test_a_new_experiment_starts_its_lineage_at_zero_and_a_reproduction_is_recorded_once():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    assert lineage(h) == {"count": 0}
    key = reproduction(h, "exp-r1")
    await reconcile(h, key)
    assert lineage(h) == {"count": 1, "recent": [{"name": "exp-r1", "uid": "uid-exp-r1", "created": "2026-01-01T12:00:02Z"}]}
    assert lineage(h, key) == {"count": 0}  # the reproduction's own lineage starts too
    writes = len(h.kube.status_writes)
    h.kube.experiments[key].pop("status")  # as if its first status write was lost: reconciled "first" again
    await reconcile(h, key)
    assert lineage(h)["count"] == 1  # idempotent by uid
    assert len(h.kube.status_writes) == writes + 1  # only the reproduction's own status


async def test_the_original_keeps_its_lineage_through_its_own_reconciles_and_a_conflict():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    h.kube.conflict_next_status_write = True  # the original's worker wrote between the cached read and ours
    await reconcile(h, reproduction(h, "exp-r1"))
    assert lineage(h)["count"] == 1
    h.clock.advance(30)
    await h.reconcile()
    assert lineage(h)["count"] == 1  # the original's own status writes carry it over


async def test_the_list_is_bounded_and_the_count_keeps_the_total():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    for i in range(MAX_LINEAGE + 3):
        await reconcile(h, reproduction(h, f"exp-r{i}"))
    got = lineage(h)
    assert got["count"] == MAX_LINEAGE + 3 and len(got["recent"]) == MAX_LINEAGE
    assert got["recent"][0]["name"] == "exp-r3" and got["recent"][-1]["name"] == f"exp-r{MAX_LINEAGE + 2}"


async def test_an_original_from_before_the_field_is_seeded_with_its_earlier_reproductions():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    h.kube.experiments[("ns", "exp")]["status"].pop("lineage")  # first reconciled by an older operator
    older = reproduction(h, "exp-old")
    h.kube.experiments[older]["status"] = {"phase": "Succeeded"}  # reconciled back then: not "first" now
    h.controller.experiment_seen(h.kube.experiments[older])
    h.controller.experiment_seen(h.kube.experiments[("ns", "exp")])
    await reconcile(h, reproduction(h, "exp-new"))
    assert [r["name"] for r in lineage(h)["recent"]] == ["exp-old", "exp-new"] and lineage(h)["count"] == 2


async def test_a_reproduction_in_another_namespace_cannot_append_to_the_original():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])  # ns/exp, uid-exp
    await h.reconcile()
    before = dict(h.kube.experiments[("ns", "exp")])
    key = reproduction(h, "evil", of="exp", namespace="other", uid="uid-exp")  # names ns/exp's uid from "other"
    await reconcile(h, key)
    assert h.kube.experiments[("ns", "exp")] == before  # untouched: lineage is looked up in "other" only
    assert ("get", "experiments", "exp") in h.kube.calls  # other/exp asked for, and not found
    assert lineage(h, key) == {"count": 0}  # the reproduction itself ran on normally


async def test_a_same_named_original_with_another_uid_is_not_written():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    await reconcile(h, reproduction(h, "exp-r1", uid="uid-of-a-deleted-exp"))
    assert lineage(h) == {"count": 0}


async def test_an_experiment_reproduced_from_itself_records_nothing():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    h.kube.experiments[("ns", "exp")]["metadata"]["labels"] = {LABEL_REPRODUCED_FROM: "exp"}
    await h.reconcile()
    assert lineage(h) == {"count": 0}
