"""Reading a task's code package for a backend: ConfigMaps or the log store, always by the record's digest.

The log store here is the real directory store (the embedded default); packages are real archives
built by the SDK's packager. What is checked is what a hostile or stale store could do: hold other
bytes under the digest, hold the package only in another namespace, or be named by a URL the
operator does not own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kuberun.packaging import PatternPackager
from kuberun.resource.code import CodeStorage, store_url
from kuberun_operator.backends.base import BackendError
from kuberun_operator.codestore import code_reader
from kuberun_operator.logstore import IntegrityError, LogStore, paths


def _package(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "lib.py").write_text("VALUE = 42\n")
    return PatternPackager(include_pattern=["*.py"], relative_path=str(project)).package()


async def _stored(store: LogStore, namespace: str, data: bytes) -> None:
    async def one():
        yield data

    await store.put_stream(paths.code_key(namespace, hashlib.sha256(data).hexdigest()), one(),
                           expect=(len(data), hashlib.sha256(data).hexdigest()))


async def test_a_stored_package_is_read_back_by_its_digest_in_the_experiments_namespace(tmp_path: Path) -> None:
    package = _package(tmp_path)
    store = LogStore.from_url(str(tmp_path / "store"))
    await _stored(store, "team-a", package.data)
    ref = package.to_code_ref(CodeStorage(url=store_url(package.sha256)))
    read = code_reader(None, store)
    assert await read("team-a", ref) == package.data


async def test_another_namespaces_package_is_not_found_by_naming_its_digest(tmp_path: Path) -> None:
    package = _package(tmp_path)
    store = LogStore.from_url(str(tmp_path / "store"))
    await _stored(store, "team-a", package.data)  # alice's code
    ref = package.to_code_ref(CodeStorage(url=store_url(package.sha256)))
    with pytest.raises(BackendError) as err:
        await code_reader(None, store)("team-b", ref)  # bob's Experiment names alice's digest
    assert err.value.reason == "CodeUnavailable" and err.value.permanent
    assert "team-b" in str(err.value)


async def test_other_bytes_under_the_digest_are_refused_as_code_integrity(tmp_path: Path) -> None:
    package = _package(tmp_path)
    store = LogStore.from_url(str(tmp_path / "store"))
    key = paths.code_key("team-a", package.sha256)
    hostile = package.data[:-1] + bytes([package.data[-1] ^ 1])  # same size, one bit flipped

    async def one():
        yield hostile

    await store.put_stream(key, one())  # written behind the record server's back (store access)
    ref = package.to_code_ref(CodeStorage(url=store_url(package.sha256)))
    with pytest.raises(BackendError) as err:
        await code_reader(None, store)("team-a", ref)
    assert err.value.reason == "CodeIntegrity" and err.value.permanent


@pytest.mark.parametrize("url", ["s3://someone-elses-bucket/code.tar.gz", "kuberun-store:code/../team-a/x.tar.gz"])
async def test_a_storage_url_that_is_not_the_operators_store_is_never_read(tmp_path: Path, url: str) -> None:
    package = _package(tmp_path)
    store = LogStore.from_url(str(tmp_path / "store"))
    await _stored(store, "team-a", package.data)
    ref = package.to_code_ref(CodeStorage(url=url))
    with pytest.raises(BackendError) as err:
        await code_reader(None, store)("team-a", ref)
    assert err.value.reason == "CodeUnavailable" and "not the operator's store" in str(err.value)


async def test_without_a_log_store_a_large_package_is_not_delivered_and_says_why(tmp_path: Path) -> None:
    package = _package(tmp_path)
    ref = package.to_code_ref(CodeStorage(url=store_url(package.sha256)))
    with pytest.raises(BackendError) as err:
        await code_reader(object(), None)("team-a", ref)  # type: ignore[arg-type]  # ConfigMaps only
    assert err.value.reason == "CodeNotDelivered" and "no log store" in str(err.value)


async def test_the_store_commits_only_bytes_that_match_the_expected_digest(tmp_path: Path) -> None:
    store = LogStore.from_url(str(tmp_path / "store"))
    good = b"x" * 1000
    key = paths.code_key("team-a", hashlib.sha256(good).hexdigest())

    async def chunks(data: bytes):
        for i in range(0, len(data), 100):
            yield data[i:i + 100]

    for wrong in (b"y" * 1000, b"x" * 999, b"x" * 1001):
        with pytest.raises(IntegrityError):
            await store.put_stream(key, chunks(wrong), expect=(len(good), hashlib.sha256(good).hexdigest()))
        assert not await store.exists(key)
    assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file()]  # no partial file left behind
    await store.put_stream(key, chunks(good), expect=(len(good), hashlib.sha256(good).hexdigest()))
    assert await store.size(key) == 1000


@pytest.mark.parametrize("namespace, digest", [("Team-A", "a" * 64), ("team-a", "A" * 64), ("team-a", "../" + "a" * 61),
                                               ("../x", "a" * 64), ("team-a", "a" * 63)])
def test_the_code_key_takes_only_a_namespace_and_a_sha256(namespace: str, digest: str) -> None:
    from kuberun_operator.logstore import UnsafePathError

    with pytest.raises(UnsafePathError):
        paths.code_key(namespace, digest)
