"""PatternPackager, HybridPackager, size limits and ConfigMap chunks of code packages."""

from __future__ import annotations

import os
import random

import pytest

from kuberun import packaging
from kuberun.packaging import (
    GitArchivePackager,
    HybridPackager,
    PackageIntegrityError,
    PackageTooLargeError,
    PackagingError,
    PatternPackager,
    UnsafeArchiveError,
    configmaps,
    limits,
)
from kuberun.resource.code import CHUNK_KEY, CodeRef, CodeStorage
from kuberun.resource.constants import CHUNK_SIZE
from tests.helpers.gitrepo import make_repo
from tests.unit.sdk.test_packaging import names


def tree(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


PROJECT = {"train.py": "", "lib/util.py": "", "lib/deep/x.py": "", "configs/a.yaml": "", "configs/sub/b.yaml": "",
           "data/big.bin": "", "notes.txt": "", "lib/__pycache__/util.cpython-311.pyc": "", ".git/config": "", "lib/util.pyc": ""}


@pytest.mark.parametrize(("include", "exclude", "expected"), [
    pytest.param("*.py", [], ["lib/deep/x.py", "lib/util.py", "train.py"], id="any-depth"),
    pytest.param(["lib/*.py"], [], ["lib/util.py"], id="anchored-one-level"),
    pytest.param(["configs/**"], [], ["configs/a.yaml", "configs/sub/b.yaml"], id="everything-below"),
    pytest.param(["*.py", "configs/**"], ["lib/deep/"], ["configs/a.yaml", "configs/sub/b.yaml", "lib/util.py", "train.py"], id="exclude-dir"),
    pytest.param(["*.py", "!train.py"], [], ["lib/deep/x.py", "lib/util.py"], id="negation"),
    pytest.param(["**"], ["data/", "*.txt"], ["configs/a.yaml", "configs/sub/b.yaml", "lib/deep/x.py", "lib/util.py", "train.py"], id="git-and-caches-always-out"),
])
def test_patterns_select_files_relative_to_the_root(tmp_path, include, exclude, expected):
    root = tree(tmp_path / "proj", PROJECT)
    package = PatternPackager(include_pattern=include, exclude_pattern=exclude, relative_path=str(root)).package()
    assert names(package) == expected
    assert package.git is None


def test_absolute_patterns_under_the_root_work_as_nemo_run_users_write_them(tmp_path):
    root = tree(tmp_path / "proj", PROJECT)
    package = PatternPackager(include_pattern=f"{root}/configs/*.yaml", relative_path=str(root)).package()
    assert names(package) == ["configs/a.yaml"]
    with pytest.raises(PackagingError, match="is outside relative_path"):
        PatternPackager(include_pattern="/etc/*", relative_path=str(root)).package()


def test_pattern_package_is_deterministic_and_defaults_to_the_cwd(tmp_path, monkeypatch):
    root = tree(tmp_path / "proj", PROJECT)
    monkeypatch.chdir(root)
    first = PatternPackager(include_pattern="*.py").package()
    os.utime(root / "train.py", (5, 5))
    assert PatternPackager(include_pattern="*.py", relative_path=str(root)).package().sha256 == first.sha256
    (root / "train.py").write_text("changed")
    assert PatternPackager(include_pattern="*.py").package().sha256 != first.sha256


def test_pattern_symlinks_inside_kept_escaping_refused_loops_harmless(tmp_path):
    root = tree(tmp_path / "proj", {"lib/a.py": "A\n"})
    (root / "alias.py").symlink_to("lib/a.py")
    (root / "lib" / "loop").symlink_to("..")  # a directory link back up: never followed by the walk
    package = PatternPackager(include_pattern=["*.py"], relative_path=str(root)).package()
    assert names(package) == ["alias.py", "lib/a.py"]
    assert names(PatternPackager(include_pattern=["lib/*"], relative_path=str(root)).package()) == ["lib/a.py", "lib/loop"]
    (root / "escape.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(UnsafeArchiveError, match=r"symlink escape\.py -> .*: absolute"):
        PatternPackager(include_pattern=["*.py"], relative_path=str(root)).package()


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"include_pattern": "*.nothing"}, "matched no files", id="no-match"),
    pytest.param({"include_pattern": [""]}, "empty pattern", id="empty-pattern"),
    pytest.param({"include_pattern": "*", "relative_path": "/nonexistent/dir"}, "is not a directory", id="bad-root"),
])
def test_pattern_errors_are_clear(tmp_path, kwargs, message):
    tree(tmp_path, {"a.py": ""})
    kwargs = {"relative_path": str(tmp_path), **kwargs}
    with pytest.raises(PackagingError, match=message):
        PatternPackager(**kwargs).package()


# -- hybrid ----------------------------------------------------------------------------------------------

def test_hybrid_puts_each_packager_in_its_directory_and_keeps_the_git_record(tmp_path):
    repo = make_repo(tmp_path / "proj")
    configs = tree(tmp_path / "configs", {"a.yaml": "a: 1\n", "skip.txt": ""})
    package = HybridPackager(sub_packagers={
        "code": GitArchivePackager(basepath=str(repo), subpath="src"),
        "configs": PatternPackager(include_pattern="*.yaml", relative_path=str(configs)),
    }).package()
    assert names(package) == ["code/helpers.py", "code/tasks.py", "configs/a.yaml"]
    assert package.git is not None and len(package.git.revision) == 40


def test_hybrid_at_root_refuses_two_packagers_claiming_one_path(tmp_path):
    one = tree(tmp_path / "one", {"x.py": "1"})
    two = tree(tmp_path / "two", {"x.py": "2", "y.py": ""})
    merged = HybridPackager(extract_at_root=True, sub_packagers={
        "a": PatternPackager(include_pattern="x.py", relative_path=str(one)),
        "b": PatternPackager(include_pattern="y.py", relative_path=str(two)),
    }).package()
    assert names(merged) == ["x.py", "y.py"]
    with pytest.raises(PackagingError, match=r"x.py: both sub_packagers\['a'\] and \['b'\] provide it"):
        HybridPackager(extract_at_root=True, sub_packagers={
            "a": PatternPackager(include_pattern="*.py", relative_path=str(one)),
            "b": PatternPackager(include_pattern="*.py", relative_path=str(two)),
        }).package()


@pytest.mark.parametrize(("subs", "message"), [
    pytest.param({}, "at least one sub-packager", id="empty"),
    pytest.param({"a": "not a packager"}, "not a packager", id="not-a-packager"),
    pytest.param({"../up": None}, "contains '..'", id="escaping-folder"),
])
def test_hybrid_errors_are_clear(tmp_path, subs, message):
    subs = {k: (PatternPackager(include_pattern="*", relative_path=str(tmp_path)) if v is None else v) for k, v in subs.items()}
    tree(tmp_path, {"a": ""})
    with pytest.raises((PackagingError, UnsafeArchiveError), match=message):
        HybridPackager(sub_packagers=subs).package()


def test_the_passthrough_packager_ships_nothing():
    assert packaging.Packager().package() is None


# -- limits ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("limit", "value", "message"), [
    pytest.param("MAX_UNPACKED_BYTES", 1000, "bytes of files", id="unpacked-bytes"),
    pytest.param("MAX_FILES", 2, "a package holds at most 2", id="files"),
    pytest.param("MAX_PACKAGE_BYTES", 100, "over the 100-byte limit", id="compressed-bytes"),
])
def test_packages_over_a_limit_are_refused_with_advice(tmp_path, monkeypatch, limit, value, message):
    tree(tmp_path, {"a.txt": "x" * 600, "b.txt": "y" * 600, "c.txt": ""})
    monkeypatch.setattr(limits, limit, value)
    with pytest.raises(PackageTooLargeError, match=message):
        PatternPackager(include_pattern="*.txt", relative_path=str(tmp_path)).package()


def test_git_packager_stops_reading_once_over_the_limit(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "a", {"big.txt": "z" * 5000})
    monkeypatch.setattr(limits, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(PackageTooLargeError, match=r"big\.txt"):
        GitArchivePackager(basepath=str(repo)).package()


# -- ConfigMap chunks --------------------------------------------------------------------------------

def random_package(tmp_path, size: int, seed: int = 7) -> packaging.CodePackage:
    (tmp_path / "blob.bin").write_bytes(random.Random(seed).randbytes(size))  # incompressible
    return PatternPackager(include_pattern="blob.bin", relative_path=str(tmp_path)).package()


def test_a_package_splits_into_digest_named_chunks_and_reassembles(tmp_path):
    package = random_package(tmp_path, 2 * 1024 * 1024)
    maps, ref = configmaps.to_config_maps(package, namespace="team", labels={"app": "x"})
    assert len(maps) == 3
    assert all(len(__import__("base64").b64decode(m["binaryData"][CHUNK_KEY])) <= CHUNK_SIZE for m in maps)
    assert [m["metadata"]["name"] for m in maps] == [f"kuberun-code-{package.sha256}-{i}" for i in range(3)]
    assert all(m["metadata"]["namespace"] == "team" and m["immutable"] and m["metadata"]["labels"]["app"] == "x" for m in maps)
    assert ref.storage.config_maps == [m["metadata"]["name"] for m in maps] and ref.size == package.size
    assert configmaps.from_config_maps(ref, list(reversed(maps))) == package.data
    assert configmaps.from_config_maps(ref, {m["metadata"]["name"]: m for m in maps}) == package.data
    again, _ = configmaps.to_config_maps(random_package(tmp_path, 2 * 1024 * 1024))
    assert [m["metadata"]["name"] for m in again] == [m["metadata"]["name"] for m in maps]


def test_reassembly_refuses_missing_swapped_or_tampered_chunks(tmp_path):
    package = random_package(tmp_path, 1024 * 1024)
    maps, ref = configmaps.to_config_maps(package)
    with pytest.raises(PackageIntegrityError, match="ConfigMaps missing"):
        configmaps.from_config_maps(ref, maps[:1])
    swapped = [dict(maps[0], binaryData=maps[1]["binaryData"]), dict(maps[1], binaryData=maps[0]["binaryData"])]
    with pytest.raises(PackageIntegrityError, match="the record says"):
        configmaps.from_config_maps(ref, swapped)
    with pytest.raises(PackageIntegrityError, match="not base64"):
        configmaps.from_config_maps(ref, [dict(maps[0], binaryData={CHUNK_KEY: "!!"}), maps[1]])


def test_packages_over_the_configmap_limit_need_another_store(tmp_path, monkeypatch):
    package = random_package(tmp_path, 4096)
    monkeypatch.setattr(configmaps, "CONFIGMAP_CODE_LIMIT", 1024)
    with pytest.raises(PackageTooLargeError, match="configure an archive store"):
        configmaps.to_config_maps(package)


def test_code_ref_is_camel_case_and_has_exactly_one_storage():
    sha = "a" * 64
    ref = CodeRef(encoding="tar+gzip", sha256=sha, size=10, files=2, storage=CodeStorage(config_maps=["m-0"]),
                  git={"revision": "b" * 40, "remote": "https://example.com/r.git", "dirty": False})
    assert ref.to_dict() == {"encoding": "tar+gzip", "sha256": sha, "size": 10, "files": 2,
                             "git": {"revision": "b" * 40, "remote": "https://example.com/r.git", "dirty": False},
                             "storage": {"configMaps": ["m-0"]}}
    assert CodeRef.model_validate(ref.to_dict()) == ref
    for storage in ({}, {"configMaps": ["a"], "url": "s3://b/k"}):
        with pytest.raises(ValueError, match="exactly one"):
            CodeStorage.model_validate(storage)
    with pytest.raises(ValueError, match="sha256"):
        CodeRef(encoding="tar+gzip", sha256="xyz", size=1, files=1, storage=CodeStorage(url="s3://b/k"))
