"""The runner's unpack refuses hostile archives before writing anything, and verifies the digest.

Each archive is hand-made with tarfile (the packer would never produce one) and carries its true
sha256, so the refusal comes from the member checks, not the digest check.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile

import pytest

from kuberun.packaging import (
    Entry,
    PackageIntegrityError,
    PackageTooLargeError,
    UnsafeArchiveError,
    build_package,
    limits,
    unpack,
)


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def archive(*members: tuple[tarfile.TarInfo, bytes]) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    data = raw.getvalue()
    return data, hashlib.sha256(data).hexdigest()


HOSTILE = [
    pytest.param([member("/etc/evil")], "absolute path", id="absolute"),
    pytest.param([member("../evil")], "contains '..'", id="parent"),
    pytest.param([member("a/../../evil")], "contains '..'", id="nested-parent"),
    pytest.param([member("C:/evil")], "absolute path", id="drive-letter"),
    pytest.param([member("ok"), member("link", tarfile.SYMTYPE, link="/etc/passwd")], "absolute or empty target", id="symlink-absolute"),
    pytest.param([member("link", tarfile.SYMTYPE, link="../../outside")], "points outside", id="symlink-up"),
    pytest.param([member("d/up", tarfile.SYMTYPE, link=".."), member("l", tarfile.SYMTYPE, link="d/up/..")],
                 "symlink l -> d/up/..: points outside", id="symlink-chain"),
    pytest.param([member("sub/f"), member("ln", tarfile.SYMTYPE, link="sub"), member("ln/f2")], "lies below the symlink ln", id="write-through-symlink"),
    pytest.param([member("a", tarfile.SYMTYPE, link="b"), member("b", tarfile.SYMTYPE, link="a")], "points outside", id="symlink-loop"),
    pytest.param([member("ok"), member("hard", tarfile.LNKTYPE, link="ok")], "a hard link", id="hardlink"),
    pytest.param([member("dev", tarfile.CHRTYPE)], "a character device", id="char-device"),
    pytest.param([member("blk", tarfile.BLKTYPE)], "a block device", id="block-device"),
    pytest.param([member("fifo", tarfile.FIFOTYPE)], "a fifo", id="fifo"),
    pytest.param([member("same", data=b"1"), member("same", data=b"2")], "appears twice", id="duplicate"),
    pytest.param([member("./")], "names the package root", id="root-only"),
]


@pytest.mark.parametrize(("members", "message"), HOSTILE)
def test_hostile_archives_are_refused_and_nothing_is_written(tmp_path, members, message):
    data, sha = archive(*members)
    outside = tmp_path / "outside"
    with pytest.raises(UnsafeArchiveError, match=re.escape(message)):
        unpack(data, tmp_path / "work" / "code", sha256=sha)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["work"]  # no dest, no staging left, nothing outside
    assert not outside.exists()


@pytest.mark.parametrize(("members", "message"), HOSTILE)
def test_without_tarfiles_data_filter_the_member_checks_alone_refuse_them(tmp_path, monkeypatch, members, message):
    # An interpreter older than 3.11.4 (Debian 12's, a rented node's) has no extraction filter.
    monkeypatch.delattr(tarfile, "data_filter")
    data, sha = archive(*members)
    with pytest.raises(UnsafeArchiveError, match=re.escape(message)):
        unpack(data, tmp_path / "work" / "code", sha256=sha)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["work"]


def test_a_wrong_digest_is_refused_before_reading_the_archive(tmp_path):
    data, sha = archive(member("a.py"))
    with pytest.raises(PackageIntegrityError, match="digest mismatch"):
        unpack(data, tmp_path / "code", sha256="0" * 64)
    with pytest.raises(PackageIntegrityError, match="digest mismatch"):
        unpack(data[:-10], tmp_path / "code", sha256=sha)
    assert not (tmp_path / "code").exists()


def test_garbage_with_its_own_digest_is_a_clear_error(tmp_path):
    data = b"not a tarball at all"
    with pytest.raises(UnsafeArchiveError, match=r"not a readable tar\.gz"):
        unpack(data, tmp_path / "code", sha256=hashlib.sha256(data).hexdigest())
    assert list(tmp_path.iterdir()) == []


def test_declared_sizes_over_the_limit_are_refused_before_decompressing_them(tmp_path, monkeypatch):
    data, sha = archive(member("a", data=b"a" * 600), member("b", data=b"b" * 600))
    monkeypatch.setattr(limits, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(PackageTooLargeError, match="unpacks to over 1000 bytes"):
        unpack(data, tmp_path / "code", sha256=sha)


def test_unpack_needs_an_absent_or_empty_destination(tmp_path):
    package = build_package([Entry("a.py", data=b"A = 1\n"), Entry("bin/run", data=b"#!/bin/sh\n", executable=True),
                             Entry("link.py", link="a.py")])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("mine")
    with pytest.raises(UnsafeArchiveError, match="is not an empty directory"):
        unpack(package.data, tmp_path / "full", sha256=package.sha256)
    assert (tmp_path / "full" / "keep").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    dest = unpack(package.data, tmp_path / "empty", sha256=package.sha256)
    assert (dest / "a.py").read_text() == "A = 1\n" and (dest / "link.py").read_text() == "A = 1\n"
    assert (dest / "bin" / "run").stat().st_mode & 0o100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full"]


@pytest.mark.parametrize(("entries", "message"), [
    pytest.param([Entry("a", data=b""), Entry("./a", data=b"")], "two files claim the same path", id="duplicate"),
    pytest.param([Entry("x", link="../y")], "points outside", id="escaping-link"),
    pytest.param([Entry("/abs", data=b"")], "absolute path", id="absolute"),
])
def test_the_packer_applies_the_same_rules(entries, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_package(entries)
