"""A Slurm attempt's log outlives the cluster's files: when the attempt ends the operator copies it,
over the bridge's own SSH log stream, into the log store and names the copy in the attempt's status;
the finished experiment's record is in the archive. Real Slurm, real SSH (see README.md)."""

from __future__ import annotations

import hashlib
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from kuberun_operator.archive import Archive
from tests.helpers.operator import get_experiment, running_operator, wait_for

from .bridge import attempts, create_experiment, slurm_task

pytestmark = pytest.mark.usefixtures("crd")


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="module")
def operator(kubeconfig: Path, crd: None, slurm_config_file: Path, records: Path) -> Any:
    with running_operator(kubeconfig, config_file=slurm_config_file, archive_url=f"sqlite:///{records}/archive.db",
                          log_store_url=str(records / "logs")) as metrics:
        yield metrics


def test_a_slurm_attempt_s_log_is_copied_when_it_ends_and_the_record_archived(operator, k8s_api_client, namespace,
                                                                               slurm_cluster, records):
    exp = create_experiment(k8s_api_client, namespace,
                            [slurm_task("t", inline="for i in 1 2 3; do echo slurm-line-$i; done")])
    name, uid = exp["metadata"]["name"], exp["metadata"]["uid"]

    def archived() -> dict[str, Any] | None:
        found = attempts(get_experiment(k8s_api_client, namespace, name), "t")
        return found[0] if found and found[0].get("archivedLog") else None

    attempt = wait_for(archived, 60, what="the Slurm attempt's archived log")
    assert attempt["phase"] == "Succeeded"
    copy = Path(urllib.parse.urlsplit(attempt["archivedLog"]["url"]).path)
    data = copy.read_bytes()
    assert copy.is_relative_to(records / "logs") and b"slurm-line-1\nslurm-line-2\nslurm-line-3\n" in data
    assert data == Path(attempt["logRef"]["path"]).read_bytes()  # the same bytes as on the cluster
    assert attempt["archivedLog"]["sha256"] == hashlib.sha256(data).hexdigest()

    def row() -> Any:
        with Archive.open(f"sqlite:///{records}/archive.db") as archive:
            found = archive.get_uid(uid)
        return found if found is not None and found.status.get("tasks", [{}])[0].get("attempts", [{}])[0].get("archivedLog") else None

    assert wait_for(row, 30, what="the archive row with the archived log").phase == "Succeeded"
