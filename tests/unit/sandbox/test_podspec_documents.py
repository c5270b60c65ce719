"""``podspec.rewrite_documents``: mount paths named inside mounted JSON documents are mapped."""

from __future__ import annotations

import json
import pathlib

from kuberun_sandbox.podspec import rewrite_documents


def test_whole_path_values_in_json_documents_are_mapped_and_other_files_left_alone(tmp_path: pathlib.Path) -> None:
    volumes = tmp_path / "volumes"
    (volumes / "task").mkdir(parents=True)
    (volumes / "chunk").mkdir()
    doc = {"name": "big", "fiddle": {"sha256": "x", "dataFiles": ["/etc/kuberun/config/0/config",
                                                                  "/etc/kuberun/config/1/config"]},
           "note": "text mentioning /etc/kuberun/config/0/config stays", "other": "/etc/kuberun/configs"}
    (volumes / "task" / "big.json").write_text(json.dumps(doc))
    chunk = '{"partial": "/etc/kuberun/config/0/config'  # a chunk of a larger config: not a document
    (volumes / "chunk" / "config").write_text(chunk)
    mounts = {"/etc/kuberun/config/0": tmp_path / "mounts/etc/kuberun/config/0",
              "/etc/kuberun/config/1": tmp_path / "mounts/etc/kuberun/config/1",
              "/etc/kuberun/task": tmp_path / "mounts/etc/kuberun/task"}
    rewrite_documents(volumes, mounts)
    got = json.loads((volumes / "task" / "big.json").read_text())
    assert got["fiddle"]["dataFiles"] == [f"{tmp_path}/mounts/etc/kuberun/config/0/config",
                                          f"{tmp_path}/mounts/etc/kuberun/config/1/config"]
    assert got["note"] == doc["note"] and got["other"] == doc["other"]
    assert (volumes / "chunk" / "config").read_text() == chunk
