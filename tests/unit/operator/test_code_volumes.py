"""The Kubernetes backend mounts a task's code package chunks and lists their paths in the task document."""

from __future__ import annotations

import json
from pathlib import Path

import kuberun as kr
from kuberun.packaging import PatternPackager
from kuberun_operator.backends.kubernetes import manifests, objectnames


def _packager(tmp_path: Path) -> PatternPackager:
    (tmp_path / "lib.py").write_text("X = 1\n")
    return PatternPackager(include_pattern="*.py", relative_path=str(tmp_path))


def test_the_job_mounts_the_chunks_and_the_document_lists_them(tmp_path):
    exp = kr.Experiment("pkg", executor=kr.KubernetesExecutor(packager=_packager(tmp_path)))
    exp.add(kr.Script(inline="true"), name="a")
    resource, _ = exp.build()
    task = resource.spec.tasks[0]
    ref = objectnames.ExperimentRef(name="pkg-1", namespace="ns", uid="u", title="pkg")
    cm = manifests.task_config_map(ref, [task])
    doc = json.loads(cm["data"]["a.json"])
    assert doc["code"] == {"sha256": task.code.sha256, "files": [f"{manifests.CODE_DIR}/0/chunk"]}
    volumes, mounts = manifests._volumes(ref, task, task.executor.kubernetes)
    code = [v for v in volumes if v["name"].startswith("kuberun-code-")]
    assert code == [{"name": "kuberun-code-0", "configMap": {"name": task.code.storage.config_maps[0],
                                                            "items": [{"key": "chunk", "path": "chunk"}]}}]
    assert {"name": "kuberun-code-0", "mountPath": f"{manifests.CODE_DIR}/0", "readOnly": True} in mounts


def test_a_task_without_code_mounts_no_chunks(tmp_path):
    exp = kr.Experiment("plain")
    exp.add(kr.Script(inline="true"), name="a")
    task = exp.build()[0].spec.tasks[0]
    ref = objectnames.ExperimentRef(name="plain-1", namespace="ns", uid="u", title="plain")
    assert "code" not in json.loads(manifests.task_config_map(ref, [task])["data"]["a.json"])
    assert not [v for v in manifests._volumes(ref, task, task.executor.kubernetes)[0] if v["name"].startswith("kuberun-code")]


def test_backends_that_cannot_deliver_code_refuse_it_permanently_by_name(tmp_path):
    import pytest

    from kuberun_operator.backends import cloud
    from kuberun_operator.backends.base import BackendError
    from kuberun_operator.backends.code import refuse_code

    exp = kr.Experiment("pkg", executor=kr.LeptonExecutor(resource_shape="cpu.small", packager=_packager(tmp_path)))
    exp.add(kr.Script(inline="true"), name="a")
    task = exp.build()[0].spec.tasks[0]
    with pytest.raises(BackendError) as caught:
        cloud.task_env(task)
    assert (caught.value.reason, caught.value.permanent) == ("CodeNotDelivered", True)
    assert "cannot deliver yet" in caught.value.message and task.code.sha256[:12] in caught.value.message
    for backend in ("Slurm", "local"):
        with pytest.raises(BackendError, match=f"the {backend} backend cannot deliver"):
            refuse_code(task, backend)
    refuse_code(task.model_copy(update={"code": None}), "local")  # no package, nothing to refuse


def _stored_task(tmp_path):
    from kuberun.resource.code import CodeStorage, store_url

    exp = kr.Experiment("big", executor=kr.KubernetesExecutor(packager=_packager(tmp_path)))
    exp.add(kr.Script(inline="true"), name="a")
    task = exp.build()[0].spec.tasks[0]
    stored = task.code.model_copy(update={"storage": CodeStorage(url=store_url(task.code.sha256)), "size": 9 << 20})
    return task.model_copy(update={"code": stored})


def test_a_package_in_the_store_is_downloaded_by_the_runner_and_mounts_nothing(tmp_path):
    task = _stored_task(tmp_path)
    ref = objectnames.ExperimentRef(name="big-1", namespace="ns", uid="u", title="big")
    doc = json.loads(manifests.task_config_map(ref, [task])["data"]["a.json"])
    assert doc["code"] == {"sha256": task.code.sha256, "size": 9 << 20, "download": True}
    assert not [v for v in manifests._volumes(ref, task, task.executor.kubernetes)[0] if v["name"].startswith("kuberun-code")]


def test_a_pod_that_cannot_download_a_stored_package_is_refused_by_name(tmp_path):
    import pytest

    from kuberun.resource.code import CONFIGMAP_CODE_LIMIT, CodeStorage
    from kuberun_operator.backends.base import BackendError
    from kuberun_operator.backends.code import refuse_unmountable_code

    task = _stored_task(tmp_path)
    refuse_unmountable_code(task, downloadable=True)  # an https record server: the pod downloads it
    with pytest.raises(BackendError) as caught:
        refuse_unmountable_code(task, downloadable=False)
    assert (caught.value.reason, caught.value.permanent) == ("CodeNotDelivered", True)
    assert str(9 << 20) in caught.value.message and str(CONFIGMAP_CODE_LIMIT) in caught.value.message
    assert "https" in caught.value.message
    elsewhere = task.model_copy(update={"code": task.code.model_copy(update={"storage": CodeStorage(url="s3://x/y.tar.gz")})})
    with pytest.raises(BackendError) as caught:
        refuse_unmountable_code(elsewhere, downloadable=True)  # never a URL that is not the operator's store
    assert caught.value.reason == "CodeUnavailable"


def test_the_kubernetes_backend_refuses_a_stored_package_when_no_https_record_server_is_published(tmp_path):
    import asyncio

    import pytest

    from kuberun.resource import recordserver
    from kuberun_operator.backends.base import BackendError
    from kuberun_operator.backends.kubernetes.backend import KubernetesBackend
    from kuberun_operator.backends.kubernetes.caches import JobCache, PodCache
    from kuberun_operator.kube import ApiError
    from kuberun_operator.settings import Settings

    class Endpoints:  # only the endpoints ConfigMap may be read: any create would be an AttributeError
        published: dict[str, str] | None = None

        async def get_config_map(self, namespace: str, name: str) -> dict:
            assert (namespace, name) == (recordserver.ENDPOINTS_NAMESPACE, recordserver.ENDPOINTS_CONFIGMAP)
            if self.published is None:
                raise ApiError(404, "NotFound", name)
            return {"data": self.published}

    exp = kr.Experiment("big", executor=kr.KubernetesExecutor(packager=_packager(tmp_path)))
    exp.add(kr.Script(inline="true"), name="a")
    resource = exp.build()[0]
    resource.spec.tasks[0] = _stored_task(tmp_path)
    for published in (None, {recordserver.KEY_URL: "http://10.0.0.1:8443"}):  # none, or plain HTTP: no token in clear
        kube = Endpoints()
        kube.published = published
        backend = KubernetesBackend(kube, JobCache(), Settings(), PodCache())  # type: ignore[arg-type]
        with pytest.raises(BackendError) as caught:
            asyncio.run(backend.submit(resource, resource.spec.tasks[0], 1, None))  # type: ignore[arg-type]
        assert caught.value.reason == "CodeNotDelivered" and "https" in caught.value.message
