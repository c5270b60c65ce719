"""The ConfigMaps an experiment's spec points at (large configs, code chunks), kept by the archive:
rebuilt exactly as they were created, content stored once by digest across experiments, bounded,
idempotent — on SQLite and a real PostgreSQL (the tests/archive fixtures)."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from kuberun_operator.archive import Archive, InvalidRecord, schema
from kuberun_operator.archive.limits import MAX_CONFIG_MAP_BYTES, MAX_CONFIG_MAPS_PER_CALL


def _config(name: str, text: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "team-a", "uid": str(uuid.uuid4()), "resourceVersion": "9",
                         "labels": {"kuberun.dev/experiment": "exp", "kuberun.dev/task": "train"},
                         "ownerReferences": [{"kind": "Experiment", "name": "exp", "uid": "u"}]},
            "data": {"config": text}}


def _chunk(index: int, raw: bytes) -> dict[str, Any]:
    digest = "ab" * 32
    return {"apiVersion": "v1", "kind": "ConfigMap", "immutable": True,
            "metadata": {"name": f"kuberun-code-{digest}-{index}", "namespace": "team-a",
                         "labels": {"kuberun.dev/code-digest": digest[:63]},
                         "annotations": {"kuberun.dev/code-sha256": digest, "kuberun.dev/chunk": f"{index}/2"}},
            "binaryData": {"chunk": base64.b64encode(raw).decode()}}


def _blob_rows(archive: Archive) -> int:
    with archive._connection() as conn:  # the dedup is the point: count what is stored
        return conn.execute(sa.select(sa.func.count()).select_from(schema.blobs)).scalar_one()


def test_config_maps_come_back_as_created_and_identical_content_is_stored_once(archive: Archive) -> None:
    code = [os.urandom(700_000), os.urandom(300_000)]  # binary, not UTF-8
    config_a = _config("exp-a-train-config-0", "eJz" + "A" * 600_000)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert archive.record_config_maps(first, [config_a, _chunk(0, code[0]), _chunk(1, code[1])]) == 3
    config_b = _config("exp-b-train-config-0", "eJz" + "B" * 1000)
    archive.record_config_maps(second, [config_b, _chunk(0, code[0]), _chunk(1, code[1])])  # the same code package
    assert _blob_rows(archive) == 4  # two configs, one code package

    kept = {cm["metadata"]["name"]: cm for cm in archive.config_maps(first, "team-a")}
    assert set(kept) == archive.config_map_names(first) == {"exp-a-train-config-0", *(
        f"kuberun-code-{'ab' * 32}-{i}" for i in (0, 1))}
    assert kept["exp-a-train-config-0"]["data"] == config_a["data"]
    assert kept["exp-a-train-config-0"]["metadata"] == {"name": "exp-a-train-config-0", "namespace": "team-a",
                                                        "labels": config_a["metadata"]["labels"]}  # no owners, no uid
    for i, raw in enumerate(code):
        cm = kept[f"kuberun-code-{'ab' * 32}-{i}"]
        assert base64.b64decode(cm["binaryData"]["chunk"]) == raw and cm["immutable"] is True
        assert cm["metadata"]["annotations"] == _chunk(i, raw)["metadata"]["annotations"]
    assert [cm["data"] for cm in archive.config_maps(second, "team-b") if "data" in cm] == [config_b["data"]]
    assert all(cm["metadata"]["namespace"] == "team-b" for cm in archive.config_maps(second, "team-b"))

    archive.record_config_maps(first, [config_a])  # again (an operator restart): nothing doubles
    assert _blob_rows(archive) == 4 and len(archive.config_maps(first, "team-a")) == 3
    assert archive.config_maps(str(uuid.uuid4()), "team-a") == []


@pytest.mark.parametrize("bad", [
    [{"metadata": {}}],
    [{"metadata": {"name": "x"}, "binaryData": {"chunk": "not base64!"}}],
    [{"metadata": {"name": "x"}, "data": {"config": 3}}],
    [{"metadata": {"name": "x"}, "data": {"config": "a" * (MAX_CONFIG_MAP_BYTES + 1)}}],
    [_config(f"c{i}", "x") for i in range(MAX_CONFIG_MAPS_PER_CALL + 1)],
], ids=["no-name", "bad-base64", "not-text", "too-large", "too-many"])
def test_bad_config_maps_are_refused_and_nothing_is_stored(archive: Archive, bad: list[dict[str, Any]]) -> None:
    uid = str(uuid.uuid4())
    with pytest.raises(InvalidRecord):
        archive.record_config_maps(uid, bad)
    assert archive.config_map_names(uid) == set() and _blob_rows(archive) == 0
