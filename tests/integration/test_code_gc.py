"""Code package collection (``kuberun_operator.codegc``) against the sandbox's API server.

Packages are real chunk ConfigMaps (``to_config_maps``) and real Experiments created through the
SDK's one create path (``manage/submit``), so the marks, the resourceVersion preconditions and the
submit's reuse of a chunk are the API server's, not a fake's. Time is passed to each pass (``now``),
so the grace period is crossed without waiting. A package "whose last Experiment went" is a set of
chunks without an Experiment: the sandbox collects owned chunks with their last owner, as a
cluster's garbage collector does, so what is left for this collector is what nobody owns.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.api import connect
from kuberun.manage import submit
from kuberun.packaging.archive import CodePackage
from kuberun.packaging.configmaps import to_config_maps
from kuberun.resource.code import ANNOTATION_CODE_UNREFERENCED

NS = "default"
GRACE = 3600.0
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path_factory.mktemp("codegc"), operator=False) as sb:
        yield sb


def _operator_kube(kubeconfig: Path) -> Any:
    from kuberun_operator.connection import api_client
    from kuberun_operator.kube import Kube
    from kuberun_operator.settings import Settings

    return Kube(api_client(Settings(kubeconfig=kubeconfig)))


def _package(seed: str) -> CodePackage:
    data = hashlib.sha256(seed.encode()).digest() * 2000 + os.urandom(16)  # ~64 KB: one chunk, unique per run
    return CodePackage(data=data, sha256=hashlib.sha256(data).hexdigest(), size=len(data), files=1, unpacked_size=len(data))


def _store(kubeconfig: Path, package: CodePackage, with_experiment: bool) -> tuple[list[dict[str, Any]], str | None]:
    """The package's chunks created as a submit creates them; with an Experiment running that code, or alone."""
    maps, ref = to_config_maps(package)
    kube = connect(str(kubeconfig))
    if not with_experiment:
        for cm in maps:
            submit._create_config_map(kube, NS, cm, shared=True)
        return maps, None
    with kr.Experiment(f"uses-{package.sha256[:8]}", namespace=NS) as exp:
        exp.add(kr.Script(inline="true"), name="t")
    resource = exp.to_resource()
    resource["spec"]["tasks"][0]["code"] = ref.to_dict()
    resource["spec"]["submittedBy"] = kube.user  # the admission policy holds it to the authenticated user
    created = submit.create(kube, resource, maps, NS)
    return maps, created["metadata"]["name"]


def _chunk(kubeconfig: Path, name: str) -> dict[str, Any] | None:
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    try:
        return api.read_namespaced_config_map(name, NS).to_dict()
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _names(maps: list[dict[str, Any]]) -> list[str]:
    return [m["metadata"]["name"] for m in maps]


def _collect(kube: Any, now: datetime, **kw: Any) -> Any:
    from kuberun_operator import codegc

    return asyncio.run(codegc.collect(kube, (NS,), now=now, grace=GRACE, **kw))


def test_an_unreferenced_package_goes_after_the_grace_and_a_referenced_one_stays(sandbox):
    kubeconfig = sandbox.kubeconfig
    live, name = _store(kubeconfig, _package("live"), with_experiment=True)
    orphan, _ = _store(kubeconfig, _package("orphan"), with_experiment=False)
    kube, events = _operator_kube(kubeconfig), []

    async def emit(cm: dict[str, Any], kind: str, reason: str, message: str) -> None:
        events.append((cm["metadata"]["name"], reason, message))

    first = _collect(kube, T0, emit=emit)
    assert first.marked == len(orphan) and first.deleted == 0
    for n in _names(orphan):
        assert (_chunk(kubeconfig, n) or {})["metadata"]["annotations"][ANNOTATION_CODE_UNREFERENCED] == "2026-01-01T00:00:00Z"
    for n in _names(live):
        assert ANNOTATION_CODE_UNREFERENCED not in ((_chunk(kubeconfig, n) or {})["metadata"].get("annotations") or {})
    within = _collect(kube, T0 + timedelta(seconds=GRACE - 1), emit=emit)
    assert within.deleted == 0 and within.kept_grace == len(orphan)
    after = _collect(kube, T0 + timedelta(seconds=GRACE + 1), emit=emit)
    assert after.deleted == len(orphan)
    assert all(_chunk(kubeconfig, n) is None for n in _names(orphan))
    assert all(_chunk(kubeconfig, n) is not None for n in _names(live)), "the running code was collected"
    assert {e[1] for e in events} == {"CodePackageCollected"} and len(events) == len(orphan)
    # months later, still referenced: still kept
    assert _collect(kube, T0 + timedelta(days=365)).deleted == 0
    assert all(_chunk(kubeconfig, n) is not None for n in _names(live))
    assert name


def test_a_package_referenced_again_loses_its_mark(sandbox):
    kubeconfig = sandbox.kubeconfig
    package = _package("again")
    maps, _ = _store(kubeconfig, package, with_experiment=False)
    kube = _operator_kube(kubeconfig)
    assert _collect(kube, T0).marked == len(maps)
    _store(kubeconfig, package, with_experiment=True)  # a submit reuses it: its 409 path takes the mark off
    for n in _names(maps):
        assert ANNOTATION_CODE_UNREFERENCED not in ((_chunk(kubeconfig, n) or {})["metadata"].get("annotations") or {})
    assert _collect(kube, T0 + timedelta(seconds=GRACE * 10)).deleted == 0
    assert all(_chunk(kubeconfig, n) is not None for n in _names(maps))


class _Racing:
    """The operator's client, with a submit of ``package`` slipped in at one step of the pass."""

    def __init__(self, kube: Any, kubeconfig: Path, package: CodePackage, at: str) -> None:
        self.kube, self.kubeconfig, self.package, self.at, self.lists, self.raced = kube, kubeconfig, package, at, 0, False

    async def _race(self) -> None:
        if not self.raced:
            self.raced = True
            await asyncio.to_thread(_store, self.kubeconfig, self.package, True)

    async def list_experiments(self, namespace: str | None = None) -> list[dict[str, Any]]:
        found = await self.kube.list_experiments(namespace)
        self.lists += 1
        if self.at == "after the first list" and self.lists == 1:
            await self._race()  # the pass goes on with a list that misses the new Experiment
        return found

    async def delete_config_map(self, namespace: str, name: str, resource_version: str) -> None:
        if self.at == "before the delete":
            await self._race()  # after the re-check: only the resourceVersion precondition can save it
        await self.kube.delete_config_map(namespace, name, resource_version)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kube, name)


@pytest.mark.parametrize("at", ["after the first list", "before the delete"])
def test_a_submit_racing_the_collection_does_not_lose_its_package(sandbox, at):
    kubeconfig = sandbox.kubeconfig
    package = _package(f"race {at}")
    maps, _ = _store(kubeconfig, package, with_experiment=False)
    kube = _operator_kube(kubeconfig)
    assert _collect(kube, T0).marked == len(maps)
    racing = _Racing(kube, kubeconfig, package, at)
    done = _collect(racing, T0 + timedelta(seconds=GRACE + 1))
    assert racing.raced and done.deleted == 0, done
    if at == "after the first list":
        assert racing.lists == 2 and done.kept_raced == 0, done  # the re-check's list saw the new Experiment
    else:
        assert done.kept_raced == len(maps), done  # the submit's write changed the version read: 409, kept
    assert all(_chunk(kubeconfig, n) is not None for n in _names(maps)), "a racing submit lost its code"


def test_with_an_archive_only_what_it_holds_is_collected(sandbox, tmp_path):
    from kuberun_operator.archive import Archive

    kubeconfig = sandbox.kubeconfig
    maps, _ = _store(kubeconfig, _package("archived"), with_experiment=False)
    kube = _operator_kube(kubeconfig)
    archive = Archive.open(f"sqlite:///{tmp_path / 'archive.db'}")

    async def held(shas: set[str]) -> set[str]:
        return await asyncio.to_thread(archive.blobs_held, shas)

    try:
        assert _collect(kube, T0, archived=held).marked == len(maps)
        later = T0 + timedelta(seconds=GRACE + 1)
        kept = _collect(kube, later, archived=held)
        assert kept.deleted == 0 and kept.kept_unarchived == len(maps)
        archive.record_config_maps("uid-of-a-deleted-run", [_chunk_as_read(kubeconfig, n) for n in _names(maps)])
        done = _collect(kube, later, archived=held)
        assert done.deleted == len(maps) and all(_chunk(kubeconfig, n) is None for n in _names(maps))
        rebuilt = archive.config_maps("uid-of-a-deleted-run", NS)  # what reproduce creates again
        assert sorted(c["metadata"]["name"] for c in rebuilt) == sorted(_names(maps))
        assert [c["binaryData"] for c in sorted(rebuilt, key=lambda c: c["metadata"]["name"])] == \
            [m["binaryData"] for m in sorted(maps, key=lambda c: c["metadata"]["name"])]
    finally:
        archive.close()


def _chunk_as_read(kubeconfig: Path, name: str) -> dict[str, Any]:
    import json

    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    return json.loads(api.read_namespaced_config_map(name, NS, _preload_content=False).data)


def test_a_pass_writes_at_most_its_limit(sandbox):
    kubeconfig = sandbox.kubeconfig
    for i in range(3):
        _store(kubeconfig, _package(f"bounded {i}"), with_experiment=False)
    kube = _operator_kube(kubeconfig)
    done = _collect(kube, T0 - timedelta(days=1), limit=2)
    assert done.writes() == 2
