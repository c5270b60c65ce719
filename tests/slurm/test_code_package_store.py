"""A package over the ConfigMap limit runs on real Slurm: the operator reads it from its log store.

The operator runs with a directory log store. The SDK's upload goes through the record server, which
needs TokenReview (the sandbox has it: tests/integration/test_code_store.py tests that path, attacks
included); the test emulator here has none, so the upload is replaced by what the server does once it
has authorized the caller: ``put_stream`` into ``<namespace>/code/<sha256>.tar.gz``, committed only
if the bytes match. Everything after — the operator reading the store by the Experiment's namespace,
the digest check, the copy over SSH, the runner's unpack on the node — is the real path.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.manage import submit
from kuberun.packaging import PatternPackager, ship
from kuberun.resource.code import CONFIGMAP_CODE_LIMIT
from tests.helpers.operator import get_experiment, phase, running_operator, wait_for

from .bridge import attempts

pytestmark = pytest.mark.usefixtures("crd")

LIB = '''\
import hashlib
import pathlib


def weigh() -> str:
    data = pathlib.Path("weights.bin").read_bytes()
    line = f"weighed {len(data)} bytes {hashlib.sha256(data).hexdigest()[:16]}"
    print(line)
    return line
'''


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("codestore")


@pytest.fixture(scope="module")
def operator(kubeconfig: Path, crd: None, slurm_config_file: Path, store_dir: Path) -> Any:
    with running_operator(kubeconfig, config_file=slurm_config_file, log_store_url=str(store_dir)) as metrics:
        yield metrics


def _store_as_the_record_server_does(store_dir: Path):
    from kuberun_operator.logstore import LogStore, paths

    def upload(kube: Any, ns: str, refs: list[Any]) -> None:
        store = LogStore.from_url(str(store_dir))
        for ref in refs:
            data = ship.staged.pop(ref.sha256)

            async def one(data: bytes = data):
                yield data

            asyncio.run(store.put_stream(paths.code_key(ns, ref.sha256), one(), expect=(len(data), ref.sha256)))

    return upload


def test_a_package_over_the_configmap_limit_runs_on_slurm_from_the_log_store(
        operator, kubeconfig, k8s_api_client, namespace, slurm_cluster, tmp_path, monkeypatch, store_dir):
    project = tmp_path / "project"
    project.mkdir()
    (project / "slurm_big_lib.py").write_text(LIB)
    weights = os.urandom(CONFIGMAP_CODE_LIMIT + (1 << 20))
    (project / "weights.bin").write_bytes(weights)
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.setattr(submit, "_upload_code", _store_as_the_record_server_does(store_dir))
    import slurm_big_lib

    packager = PatternPackager(include_pattern=["*.py", "*.bin"], relative_path=str(project))
    exp = kr.Experiment("slurm-big", namespace=namespace, executor=kr.SlurmExecutor(cluster="main", packager=packager))
    exp.add(kr.Partial(slurm_big_lib.weigh), name="t")
    created = exp.run(kubeconfig=str(kubeconfig))
    sys.modules.pop("slurm_big_lib", None)
    name, code = created["metadata"]["name"], created["spec"]["tasks"][0]["code"]
    assert code["size"] > CONFIGMAP_CODE_LIMIT and "url" in code["storage"]

    def finished() -> str | None:
        p = phase(k8s_api_client, namespace, name)
        return p if p in ("Succeeded", "Failed") else None

    assert wait_for(finished, 90, what="the large packaged Slurm task") == "Succeeded", \
        get_experiment(k8s_api_client, namespace, name).get("status")
    (attempt,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
    log = Path(attempt["logRef"]["path"])
    assert f"weighed {len(weights)} bytes {hashlib.sha256(weights).hexdigest()[:16]}" in log.read_text()
    assert hashlib.sha256((log.parent / "code.tar.gz").read_bytes()).hexdigest() == code["sha256"]
