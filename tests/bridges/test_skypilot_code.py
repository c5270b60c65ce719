"""A packaged task on SkyPilot: the archive goes through SkyPilot's own file-mount upload (``/upload_v2``).

What runs against what:

- the REAL SkyPilot API server (skypilot 0.14.1, offline on 127.0.0.1) takes the bridge's upload,
  stores the package where its own ``process_mounts_in_task_on_api_server`` (run in the tool venv,
  against the server's HOME) resolves the task's file mount to it, byte for byte; a second upload of
  the same package is skipped by the server's own ``exists`` answer; the operator's launch of a
  packaged task reaches the server's infra check (so the mount was resolved);
- the REAL ``sky.Task.from_yaml_config`` parses the task with its code mount;
- a bare interpreter (no kuberun) plays the node: with the package where SkyPilot's mount puts it,
  the shipped runner verifies and unpacks it and the task imports the project's module;
- a ConfigMap squatting the package's name with other bytes: the attempt fails ``CodeIntegrity``
  and nothing is uploaded or launched (the faithful fake server).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.packaging import PatternPackager
from kuberun.resource import BackendRef
from kuberun_operator.backends.skypilot import backend as skypilot_backend
from kuberun_operator.backends.skypilot import upload
from tests.bridges.fake_skypilot import FakeSkypilot, config_file, fake
from tests.bridges.helpers import run_in, submit, task_status, tool_python, write_config
from tests.bridges.sky_server import VENV, sky_api, sky_server
from tests.helpers.operator import phase, running_operator, wait_for

__all__ = ["config_file", "fake", "sky_api", "sky_server"]  # fixtures
pytestmark = pytest.mark.usefixtures("crd")

MODULE = "VALUE = 'shipped to the node'\n"


@pytest.fixture()
def packager(tmp_path: Path) -> PatternPackager:
    project = tmp_path / "project"
    project.mkdir()
    (project / "sky_shipped.py").write_text(MODULE)
    return PatternPackager(include_pattern=["*.py"], relative_path=str(project))


def _built(packager: PatternPackager, entry: Any = None) -> tuple[dict[str, Any], Any, Any]:
    """(task YAML, TaskSpec, package) of one packaged SkyPilot task, its blob made as the bridge makes it."""
    exp = kr.Experiment("sky", namespace="ns")
    exp.add(entry or kr.Script(command=["python", "-c", "import sky_shipped; print(sky_shipped.VALUE)"]), name="t",
            executor=kr.SkypilotExecutor(cpus=2, packager=packager))
    resource, _ = exp.build()
    task = resource.spec.tasks[0]
    package = packager.package()
    ref = BackendRef(backend="skypilot", idempotency_key="uid-t-1")
    with upload.code_blob(package.data, package.sha256) as blob:
        built = skypilot_backend.build_task(resource, task, 1, ref, blob)
    return built, task, package


def test_the_blob_holds_only_the_package_and_its_id_depends_on_the_content(packager: PatternPackager) -> None:
    import zipfile

    package = packager.package()
    with upload.code_blob(package.data, package.sha256) as blob:
        where = blob.zip_path.parent
        assert (where.stat().st_mode & 0o777) == 0o700  # private to the operator
        with zipfile.ZipFile(blob.zip_path) as zf:
            assert zf.namelist() == [f"kuberun-code/{package.sha256}.tar.gz"]
            assert hashlib.sha256(zf.read(zf.namelist()[0])).hexdigest() == package.sha256
        first = blob.blob_id
    assert not where.exists()  # removed once handed over
    with upload.code_blob(package.data, package.sha256) as again:
        assert again.blob_id == first  # same code, same blob: SkyPilot stores it once


def test_real_sky_task_parses_the_code_mount(packager: PatternPackager, tmp_path: Path) -> None:
    python = tool_python(VENV, ".ci/install-skypilot.sh")
    built, _, package = _built(packager)
    done = run_in(python, """
        import json, os, sky
        task = sky.Task.from_yaml_config(json.loads(os.environ["TASK"]))
        again = task.to_yaml_config()
        print(json.dumps({"file_mounts": task.file_mounts, "mapping": task.file_mounts_mapping,
                          "again": again.get("file_mounts_mapping")}))
    """, TASK=json.dumps(built), HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    destination, source = f"~/.kuberun/code/{package.sha256}.tar.gz", f"/kuberun-code/{package.sha256}.tar.gz"
    assert got == {"file_mounts": {destination: source}, "mapping": {source: source}, "again": {source: source}}


def test_real_server_stores_the_package_once_where_its_mount_resolves(sky_api: tuple[str, Path], packager: PatternPackager) -> None:
    import aiohttp

    from kuberun_operator.backends.skypilot.client import SkypilotClient

    url, home = sky_api
    built, _, package = _built(packager)
    sent: list[tuple[str, str]] = []

    class Counting(SkypilotClient):
        def _send(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            sent.append((method, path))
            return super()._send(method, path, *args, **kwargs)

    async def upload_twice() -> str:
        async with aiohttp.ClientSession() as session:
            client = Counting(url, None, session)
            with upload.code_blob(package.data, package.sha256) as blob:
                await client.upload_blob(blob.zip_path, blob.blob_id)
                await client.upload_blob(blob.zip_path, blob.blob_id)
                return blob.blob_id

    blob_id = asyncio.run(upload_twice())
    assert sent.count(("POST", "/upload_v2")) == 1 and sent.count(("GET", "/upload_v2/blob")) == 2
    python = tool_python(VENV, ".ci/install-skypilot.sh")
    import yaml

    done = run_in(python, """
        import json, os
        from sky.server import common
        dag = common.process_mounts_in_task_on_api_server(os.environ["TASK"], {"SKYPILOT_USER_ID": os.environ["USER_HASH"]},
                                                          False, os.environ["BLOB"])
        print(json.dumps(dag.tasks[0].file_mounts))
    """, TASK=yaml.safe_dump(built), USER_HASH=upload.USER_HASH, BLOB=blob_id, HOME=str(home))
    assert done.returncode == 0, done.stderr[-3000:]
    (destination, on_server), = json.loads(done.stdout.strip().splitlines()[-1]).items()
    assert destination == f"~/.kuberun/code/{package.sha256}.tar.gz"
    assert on_server.startswith(str(home)) and hashlib.sha256(Path(on_server).read_bytes()).hexdigest() == package.sha256


def test_real_server_launch_of_a_packaged_task_gets_past_its_mounts(
        sky_api: tuple[str, Path], packager: PatternPackager, tmp_path: Path, kubeconfig: Path, k8s_api_client: Any,
        namespace: str) -> None:
    url, home = sky_api
    config = write_config(tmp_path / "backends.yaml", {"skypilot": {"endpoint": url, "pollIntervalSeconds": 0.3,
                                                                     "allowedNamespaces": ["*"]}})
    with running_operator(kubeconfig, config_file=config):
        name = submit(kubeconfig, namespace, kr.SkypilotExecutor(cpus=2, packager=packager),
                      kr.Script(command=["python", "-c", "import sky_shipped"]))
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", timeout=90, what="Failed")
    task = task_status(k8s_api_client, namespace, name)
    # The server resolved the blob (a missing one fails the request with FileNotFoundError) and went on to
    # look for infra, which this machine has none of.
    assert task["reason"] == "NoInfraAvailable", task
    sha = packager.package().sha256
    assert list(home.glob(f".sky/api_server/clients/*/file_mounts/blobs/*/kuberun-code/{sha}.tar.gz"))


def test_a_bare_node_unpacks_the_mounted_package_and_imports_the_project(packager: PatternPackager, tmp_path: Path) -> None:
    from tests.unit.operator.backends.test_runner_bundle import _bare, _sh

    built, _, package = _built(packager)
    env = {**_bare(tmp_path), **{k: str(v) for k, v in built["envs"].items()}}
    # What SkyPilot's file mount does on the node: the package at the mount's destination.
    destination = Path(env["HOME"]) / ".kuberun" / "code" / f"{package.sha256}.tar.gz"
    destination.parent.mkdir(parents=True)
    destination.write_bytes(package.data)
    assert _sh(built["setup"], env).returncode == 0
    run = _sh(built["run"], env)
    assert run.returncode == 0, run.stderr
    assert "shipped to the node" in run.stdout


def test_a_bare_node_refuses_a_tampered_package(packager: PatternPackager, tmp_path: Path) -> None:
    from tests.unit.operator.backends.test_runner_bundle import _bare, _sh

    built, _, package = _built(packager)
    env = {**_bare(tmp_path), **{k: str(v) for k, v in built["envs"].items()}}
    destination = Path(env["HOME"]) / ".kuberun" / "code" / f"{package.sha256}.tar.gz"
    destination.parent.mkdir(parents=True)
    destination.write_bytes(package.data[:-1] + bytes([package.data[-1] ^ 1]))
    assert _sh(built["setup"], env).returncode == 0
    run = _sh(built["run"], env)
    assert run.returncode != 0 and "digest mismatch" in run.stderr + run.stdout
    assert "shipped to the node" not in run.stdout


# -- against the faithful fake: delivery and a hostile ConfigMap ---------------------------------------



def test_a_packaged_task_is_uploaded_then_launched_with_its_blob(fake: FakeSkypilot, config_file: Path, packager: PatternPackager,
                                                                 kubeconfig: Path, namespace: str) -> None:
    with running_operator(kubeconfig, config_file=config_file):
        submit(kubeconfig, namespace, kr.SkypilotExecutor(cpus=2, packager=packager), kr.Script(command=["true"]))
        (launched,) = wait_for(lambda: [t for t in fake.launched if t["envs"].get("KUBERUN_NAMESPACE") == namespace],
                               what="a launch")
    sha = packager.package().sha256
    assert launched["_blob"] in fake.blobs and launched["envs"]["KUBERUN_NAMESPACE"] == namespace
    assert launched["file_mounts"] == {f"~/.kuberun/code/{sha}.tar.gz": f"/kuberun-code/{sha}.tar.gz"}


def test_a_configmap_squatting_the_packages_name_fails_code_integrity_and_nothing_is_sent(
        fake: FakeSkypilot, config_file: Path, packager: PatternPackager, kubeconfig: Path, k8s_api_client: Any,
        namespace: str) -> None:
    import base64

    from kubernetes import client

    from kuberun.packaging.configmaps import to_config_maps

    # Code of its own: the operator also picks up earlier tests' experiments (other namespaces), whose package
    # is the fixture's; this one must be told apart from them.
    (Path(packager.relative_path) / "squatted.py").write_text("X = 1\n")
    package = packager.package()
    maps, _ = to_config_maps(package, namespace=namespace)
    (squat,) = maps
    squat["binaryData"]["chunk"] = base64.b64encode(b"not the package").decode()
    client.CoreV1Api(k8s_api_client).create_namespaced_config_map(namespace, squat)  # before the submit: a 409 for it
    with running_operator(kubeconfig, config_file=config_file):
        name = submit(kubeconfig, namespace, kr.SkypilotExecutor(cpus=2, packager=packager), kr.Script(command=["true"]))
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", what="Failed")
    task = task_status(k8s_api_client, namespace, name)
    assert task["reason"] == "CodeIntegrity", task
    with upload.code_blob(package.data, package.sha256) as blob:
        assert blob.blob_id not in fake.blobs  # never uploaded
    assert [t for t in fake.launched if t["envs"].get("KUBERUN_NAMESPACE") == namespace] == []  # never launched


def test_skypilot_without_a_code_reader_refuses_a_packaged_task(packager: PatternPackager) -> None:
    from kuberun_operator.backends.base import BackendError

    exp = kr.Experiment("sky", namespace="ns")
    exp.add(kr.Script(command=["true"]), name="t", executor=kr.SkypilotExecutor(cpus=2, packager=packager))
    resource, _ = exp.build()
    with pytest.raises(BackendError) as err:
        skypilot_backend.build_task(resource, resource.spec.tasks[0], 1, BackendRef(backend="skypilot", idempotency_key="k"))
    assert err.value.reason == "CodeNotDelivered"
