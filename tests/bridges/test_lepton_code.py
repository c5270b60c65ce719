"""A packaged task on Lepton: stored in the workspace's file storage per digest, mounted into the job.

What runs against what:

- the REAL leptonai ``StorageAPI`` (0.27.3, the dev environment's: 0.47 has no storage module) talks
  to the fake workspace (tests/bridges/fake_lepton.py, modelled on that SDK code) and sees exactly
  what the bridge stored — and the bridge sees what the SDK stored;
- the REAL leptonai 0.47.1 job model and ``validate_job_create`` accept the job with its code mount;
- the real operator and bridge, against the fake: the package lands once per digest, the job mounts
  that package's directory only, a cut-short file is replaced, a workspace without ``codeStorage``
  and a squatted ConfigMap fail with their reasons and nothing is uploaded or created.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.packaging import PatternPackager
from kuberun.resource import BackendRef
from kuberun_operator.backend_config import LeptonCodeStorage
from kuberun_operator.backends.lepton import build_job
from tests.bridges.fake_lepton import FakeLepton, serving
from tests.bridges.helpers import run_in, submit, task_status, tool_python, write_config
from tests.helpers.operator import phase, running_operator, wait_for

pytestmark = pytest.mark.usefixtures("crd")
STORAGE = {"mountFrom": "node-nfs:team-fs"}
SCRIPT = kr.Script(command=["python", "-c", "import lepton_shipped"])


@pytest.fixture()
def fake() -> Any:
    with serving(FakeLepton()) as server:
        yield server


@pytest.fixture()
def packager(tmp_path: Path) -> PatternPackager:
    project = tmp_path / "project"
    project.mkdir()
    (project / "lepton_shipped.py").write_text("VALUE = 1\n")
    return PatternPackager(include_pattern=["*.py"], relative_path=str(project))


def _config(tmp_path: Path, fake: FakeLepton, **workspace: Any) -> Path:
    token = tmp_path / "token"
    token.write_text("good-token\n")
    ws = {"name": "ws", "url": fake.url, "tokenFile": str(token), "allowedNamespaces": ["*"], **workspace}
    return write_config(tmp_path / "backends.yaml", {"lepton": {"workspaces": [ws], "pollIntervalSeconds": 0.2}})


def _executor(packager: PatternPackager) -> kr.LeptonExecutor:
    return kr.LeptonExecutor(resource_shape="cpu.small", image="ghcr.io/kuberun/task:1", packager=packager)


def _storage_posts(fake: FakeLepton) -> int:
    return sum(1 for method, path in fake.requests if method == "POST" and "/storage/" in path)


def _env(job: dict[str, Any]) -> dict[str, Any]:
    env = {e["name"]: e for e in job["spec"]["envs"]}
    return json.loads(base64.b64decode(env["KUBERUN_TASK_B64"]["value"]))


# -- the real SDK ------------------------------------------------------------------------------------


def test_real_leptonai_storage_api_and_the_bridge_see_the_same_files(fake: FakeLepton, tmp_path: Path) -> None:
    import asyncio

    import aiohttp

    from kuberun_operator.backends.lepton.client import LeptonClient

    pytest.importorskip("leptonai.api.v1.storage", reason="the dev environment's leptonai 0.27.3 has the StorageAPI")
    data = b"code package bytes" * 1000
    local = tmp_path / "code.tar.gz"
    local.write_bytes(data)
    token = tmp_path / "token"
    token.write_text("good-token")

    async def bridge_upload() -> tuple[int | None, tuple[int, str] | None]:
        async with aiohttp.ClientSession() as session:
            client = LeptonClient("ws", fake.url, token, session)
            await client.make_dir("default", "/by-bridge")
            await client.put_file("default", "/by-bridge/code.tar.gz", local)
            return await client.stored_size("default", "/by-sdk/x.bin"), await client.file_sha256("default", "/by-sdk/x.bin")

    done = run_in(Path(sys.executable), """
        import json, os
        from leptonai.api.v1.client import APIClient
        client = APIClient(workspace_id="ws", auth_token="good-token", url=os.environ["URL"])
        client.storage.create_dir("/by-sdk")
        with open(os.environ["LOCAL"] + ".sdk", "wb") as f:
            f.write(b"from the sdk")
        client.storage.create_file(os.environ["LOCAL"] + ".sdk", "/by-sdk/x.bin")
        print(json.dumps({"exists": client.storage.check_exists("/by-sdk/x.bin"),
                          "missing": client.storage.check_exists("/nope")}))
    """, URL=fake.url, LOCAL=str(local))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"exists": True, "missing": False}
    size, digest = asyncio.run(bridge_upload())
    assert (size, digest) == (12, (12, hashlib.sha256(b"from the sdk").hexdigest()))
    seen = run_in(Path(sys.executable), """
        import json, os
        from leptonai.api.v1.client import APIClient
        client = APIClient(workspace_id="ws", auth_token="good-token", url=os.environ["URL"])
        listed = [(d.type, d.name) for d in client.storage.get_dir("/by-bridge")]
        client.storage.get_file("/by-bridge/code.tar.gz", os.environ["OUT"])
        print(json.dumps({"listed": listed, "type": client.storage.get_file_type("/by-bridge/code.tar.gz")}))
    """, URL=fake.url, OUT=str(tmp_path / "back"))
    assert seen.returncode == 0, seen.stderr[-3000:]
    assert json.loads(seen.stdout.strip().splitlines()[-1]) == {"listed": [["file", "code.tar.gz"]], "type": "file"}
    assert (tmp_path / "back").read_bytes() == data


def test_the_job_with_its_code_mount_is_a_valid_leptonjob_for_the_real_sdk(packager: PatternPackager) -> None:
    python = tool_python("lepton-venv-0.47.1", ".ci/install-lepton-sdk.sh")
    exp = kr.Experiment("body", namespace="ns")
    exp.add(SCRIPT, name="t", executor=_executor(packager))
    resource, _ = exp.build()
    sha = resource.spec.tasks[0].code.sha256
    body = build_job(resource, resource.spec.tasks[0], 1, BackendRef(backend="lepton", idempotency_key="k"), "img",
                     LeptonCodeStorage(mount_from="node-nfs:team-fs"))
    assert body["spec"]["mounts"] == [{"path": f"/kuberun-code/{sha}", "mount_path": f"/kuberun/code/{sha}",
                                       "from": "node-nfs:team-fs"}]
    assert _env(body)["code"] == {"sha256": sha, "files": [f"/kuberun/code/{sha}/code.tar.gz"]}
    done = run_in(python, """
        import json, os
        from leptonai.api.v2.job_validation import validate_job_create
        from leptonai.api.v2.types.job import LeptonJob
        job = LeptonJob(**json.loads(os.environ["BODY"]))
        validate_job_create(job)
        print(json.dumps(job.dict(exclude_none=True, by_alias=True)["spec"]["mounts"]))
    """, BODY=json.dumps(body))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == body["spec"]["mounts"]


# -- the operator against the fake workspace -------------------------------------------------------


def test_a_packaged_task_is_stored_once_per_digest_and_its_job_mounts_only_its_package(
        fake: FakeLepton, packager: PatternPackager, tmp_path: Path, kubeconfig: Path, namespace: str) -> None:
    package = packager.package()
    with running_operator(kubeconfig, config_file=_config(tmp_path, fake, codeStorage=STORAGE)):
        submit(kubeconfig, namespace, _executor(packager), SCRIPT)
        wait_for(lambda: len(fake.jobs) == 1, what="the first job")
        submit(kubeconfig, namespace, _executor(packager), SCRIPT)  # the same code again
        wait_for(lambda: len(fake.jobs) == 2, what="the second job")
    assert fake.files == {("default", f"/kuberun-code/{package.sha256}/code.tar.gz"): package.data}
    assert _storage_posts(fake) == 1  # the second found it by HEAD
    for job in fake.jobs.values():
        assert job["spec"]["mounts"] == [{"path": f"/kuberun-code/{package.sha256}",
                                          "mount_path": f"/kuberun/code/{package.sha256}", "from": "node-nfs:team-fs"}]
        assert _env(job)["code"]["files"] == [f"/kuberun/code/{package.sha256}/code.tar.gz"]


def test_a_cut_short_file_under_the_digest_is_replaced(fake: FakeLepton, packager: PatternPackager, tmp_path: Path,
                                                       kubeconfig: Path, namespace: str) -> None:
    package = packager.package()
    where = ("default", f"/kuberun-code/{package.sha256}/code.tar.gz")
    fake.dirs |= {("default", "/kuberun-code"), ("default", f"/kuberun-code/{package.sha256}")}
    fake.files[where] = package.data[: len(package.data) // 2]  # an upload interrupted earlier
    with running_operator(kubeconfig, config_file=_config(tmp_path, fake, codeStorage=STORAGE)):
        submit(kubeconfig, namespace, _executor(packager), SCRIPT)
        wait_for(lambda: len(fake.jobs) == 1, what="the job")
    assert fake.files[where] == package.data


def test_a_workspace_without_code_storage_fails_the_task_code_not_delivered(
        fake: FakeLepton, packager: PatternPackager, tmp_path: Path, kubeconfig: Path, k8s_api_client: Any,
        namespace: str) -> None:
    with running_operator(kubeconfig, config_file=_config(tmp_path, fake)):
        name = submit(kubeconfig, namespace, _executor(packager), SCRIPT)
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", what="Failed")
    task = task_status(k8s_api_client, namespace, name)
    assert task["reason"] == "CodeNotDelivered" and "'ws' has no codeStorage" in task["message"], task
    assert fake.jobs == {} and fake.files == {}


def test_a_squatted_configmap_fails_code_integrity_and_nothing_is_stored_or_created(
        fake: FakeLepton, packager: PatternPackager, tmp_path: Path, kubeconfig: Path, k8s_api_client: Any,
        namespace: str) -> None:
    from kubernetes import client

    from kuberun.packaging.configmaps import to_config_maps

    (squat,), _ = to_config_maps(packager.package(), namespace=namespace)
    squat["binaryData"]["chunk"] = base64.b64encode(b"a hostile archive").decode()
    client.CoreV1Api(k8s_api_client).create_namespaced_config_map(namespace, squat)
    with running_operator(kubeconfig, config_file=_config(tmp_path, fake, codeStorage=STORAGE)):
        name = submit(kubeconfig, namespace, _executor(packager), SCRIPT)
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", what="Failed")
    assert task_status(k8s_api_client, namespace, name)["reason"] == "CodeIntegrity"
    assert fake.jobs == {} and fake.files == {}


def test_a_package_that_reads_back_as_other_bytes_is_deleted_and_the_submit_retried(
        packager: PatternPackager, tmp_path: Path) -> None:
    import asyncio

    import aiohttp

    from kuberun_operator.backends.base import BackendError
    from kuberun_operator.backends.lepton import code
    from kuberun_operator.backends.lepton.client import LeptonClient

    package = packager.package()
    fake = FakeLepton()
    original = fake._storage_upload

    async def corrupting(request: Any) -> Any:  # a storage that flips a bit on the way in
        answer = await original(request)
        where = fake._where(request)
        fake.files[where] = fake.files[where][:-1] + bytes([fake.files[where][-1] ^ 1])
        return answer

    fake._storage_upload = corrupting  # type: ignore[method-assign]  # before serving: the routes bind it
    token = tmp_path / "token"
    token.write_text("good-token")

    async def deliver() -> None:
        async with aiohttp.ClientSession() as session:
            await code.deliver(LeptonClient("ws", fake.url, token, session), LeptonCodeStorage(mount_from="node-nfs:x"),
                               package.data, package.sha256)

    with serving(fake), pytest.raises(BackendError) as err:
        asyncio.run(deliver())
    assert err.value.reason == "BackendUnavailable" and not err.value.permanent  # retried by the next reconcile
    assert fake.files == {}  # never left under the digest's name
