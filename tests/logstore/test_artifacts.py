"""Artifacts on the directory store and on S3: incremental sync, bounds that are reported, and no way
out of the output directory (on upload) or the download directory (on fetch)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from kuberun_operator.logstore import (
    IntegrityError,
    Manifest,
    ManifestEntry,
    UnsafePathError,
    artifacts,
    paths,
    read_manifest,
)
from tests.logstore.conftest import Backend, bump_mtime, write

PREFIX = paths.artifacts_prefix("team-a", "sweep-x2k4p", "0f3c9e2a-1111-4222-8333-444455556666", "train", 1)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def uploads(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Keys the store actually streamed (every upload goes through put_stream)."""
    seen: list[str] = []
    original = backend.store.put_stream

    async def spy(key, chunks, limit=None):
        seen.append(key)
        return await original(key, chunks, limit)

    monkeypatch.setattr(backend.store, "put_stream", spy)
    return seen


def artifact_uploads(seen: list[str]) -> list[str]:
    return sorted(k.removeprefix(PREFIX + "/") for k in seen if k != paths.manifest_key(PREFIX))


async def test_a_second_sync_uploads_only_what_changed(backend: Backend, tmp_path: Path, uploads: list[str]) -> None:
    out = tmp_path / "out"
    write(out / "metrics.json", '{"loss": 0.5}')
    write(out / "ckpt" / "step-100.pt", b"\x00weights-100" * 1000)
    write(out / "ckpt" / "notes.txt", "same bytes")

    first = await artifacts.sync_dir(backend.store, out, PREFIX)
    assert artifact_uploads(uploads) == ["ckpt/notes.txt", "ckpt/step-100.pt", "metrics.json"]
    assert first.uploaded == ["ckpt/notes.txt", "ckpt/step-100.pt", "metrics.json"]
    assert [(e.path, e.size, e.sha256) for e in first.entries] == [
        ("ckpt/notes.txt", 10, sha(b"same bytes")),
        ("ckpt/step-100.pt", 12000, sha(b"\x00weights-100" * 1000)),
        ("metrics.json", 13, sha(b'{"loss": 0.5}')),
    ]
    assert first.skipped == [] and first.skipped_total == 0

    uploads.clear()
    again = await artifacts.sync_dir(backend.store, out, PREFIX, first)
    assert artifact_uploads(uploads) == [] and again.uploaded == []
    assert again.entries == first.entries

    uploads.clear()
    write(out / "metrics.json", '{"loss": 0.25}')  # changed bytes
    bump_mtime(out / "ckpt" / "notes.txt")  # touched, same bytes: hashed, not uploaded
    write(out / "ckpt" / "step-200.pt", b"\x00weights-200" * 1000)  # new
    (out / "ckpt" / "step-100.pt").unlink()  # rotated away locally: stays stored and listed
    third = await artifacts.sync_dir(backend.store, out, PREFIX, again)
    assert artifact_uploads(uploads) == ["ckpt/step-200.pt", "metrics.json"]
    assert third.uploaded == ["ckpt/step-200.pt", "metrics.json"]
    assert [e.path for e in third.entries] == ["ckpt/notes.txt", "ckpt/step-100.pt", "ckpt/step-200.pt", "metrics.json"]
    assert third.by_path()["metrics.json"].sha256 == sha(b'{"loss": 0.25}')
    assert third.by_path()["ckpt/notes.txt"].mtime_ns == (out / "ckpt" / "notes.txt").stat().st_mtime_ns

    assert await read_manifest(backend.store, PREFIX) == third
    keys = backend.objects()
    assert f"{PREFIX}/ckpt/step-100.pt" in keys and paths.manifest_key(PREFIX) in keys


async def test_bounds_are_reported_not_silently_dropped(backend: Backend, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for name, size in [("a.bin", 400), ("b.bin", 400), ("c.bin", 100), ("d.bin", 50), ("e.bin", 10)]:
        write(out / name, b"x" * size)

    by_bytes = await artifacts.sync_dir(backend.store, out, PREFIX, max_bytes=850)  # first fit, in path order
    assert [e.path for e in by_bytes.entries] == ["a.bin", "b.bin", "d.bin"]
    assert [(s.path, s.reason, s.size) for s in by_bytes.skipped] == [("c.bin", "max-bytes", 100), ("e.bin", "max-bytes", 10)]

    by_count = await artifacts.sync_dir(backend.store, out, PREFIX + "-2", max_files=2)
    assert [e.path for e in by_count.entries] == ["a.bin", "b.bin"]
    assert [(s.path, s.reason) for s in by_count.skipped] == [("c.bin", "max-files"), ("d.bin", "max-files"), ("e.bin", "max-files")]
    assert by_count.skipped_total == 3
    assert sorted(k for k in backend.objects() if k.startswith(PREFIX + "-2/")) == [f"{PREFIX}-2/a.bin", f"{PREFIX}-2/b.bin"]


async def test_hostile_names_and_escaping_symlinks_are_refused_and_reported(backend: Backend, tmp_path: Path) -> None:
    out = tmp_path / "out"
    secret = write(tmp_path / "outside" / "id_rsa", "PRIVATE KEY")
    write(out / "ok.txt", "fine")
    write(out / "deep" / "inside.txt", "inside")
    write(out / "line\nbreak.txt", "x")
    write(out / "back\\slash.txt", "x")
    os.close(os.open(os.fsencode(out) + b"/bad-\xff-utf8", os.O_CREAT | os.O_WRONLY, 0o644))
    os.symlink(secret, out / "abs-link")
    os.symlink("../outside/id_rsa", out / "rel-link")
    os.symlink(tmp_path / "outside", out / "dir-link")
    os.symlink("deep/inside.txt", out / "good-link")
    os.symlink("nowhere", out / "dangling")
    os.mkfifo(out / "fifo")

    manifest = await artifacts.sync_dir(backend.store, out, PREFIX)

    assert sorted(e.path for e in manifest.entries) == ["deep/inside.txt", "good-link", "ok.txt"]
    assert manifest.by_path()["good-link"].sha256 == sha(b"inside")
    reasons = {s.path: s.reason for s in manifest.skipped}
    assert reasons == {
        "abs-link": "symlink-outside",
        "rel-link": "symlink-outside",
        "dir-link": "symlink-outside",
        "dangling": "symlink-outside",
        "fifo": "not-a-regular-file",
        "line\nbreak.txt": "unsafe-name",
        "back\\slash.txt": "unsafe-name",
        "bad-\\xff-utf8": "unsafe-name",
    }
    stored = [k for k in backend.objects() if k.startswith(PREFIX + "/")]
    assert sorted(stored) == [f"{PREFIX}/deep/inside.txt", f"{PREFIX}/good-link", f"{PREFIX}/ok.txt"]
    for key in stored:
        assert b"PRIVATE KEY" not in b"".join([c async for c in await backend.store.open_log(key)])


async def test_fetch_downloads_and_verifies_every_file(backend: Backend, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(out / "a.txt", "alpha")
    write(out / "x" / "y" / "z.bin", bytes(range(256)) * 100)
    write(out / "odd ?#*[1] ünï.txt", "odd but legal")  # URL and glob characters are just characters
    manifest = await artifacts.sync_dir(backend.store, out, PREFIX)

    dest = tmp_path / "dl"
    written = await artifacts.fetch(backend.store, PREFIX, dest)  # manifest read from the store
    assert sorted(written) == [dest / "a.txt", dest / "odd ?#*[1] ünï.txt", dest / "x" / "y" / "z.bin"]
    assert (dest / "x" / "y" / "z.bin").read_bytes() == bytes(range(256)) * 100
    assert (dest / "odd ?#*[1] ünï.txt").read_text() == "odd but legal"
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["a.txt", "odd ?#*[1] ünï.txt", "z.bin"]  # no temp files

    again = await artifacts.fetch(backend.store, PREFIX, dest, manifest)  # over existing files
    assert sorted(again) == sorted(written)


@pytest.mark.parametrize(
    "hostile",
    ["../escape.txt", "a/../../escape.txt", "/tmp/escape.txt", "a\\..\\escape.txt", "a//b", "./a", "a/\x00b"],
)
async def test_fetch_refuses_a_manifest_that_leaves_the_destination(backend: Backend, tmp_path: Path, hostile: str) -> None:
    write(tmp_path / "out" / "a.txt", "alpha")
    good = await artifacts.sync_dir(backend.store, tmp_path / "out", PREFIX)
    evil = Manifest(entries=[*good.entries, ManifestEntry(path=hostile, size=5, sha256=sha(b"alpha"))])
    dest = tmp_path / "deep" / "dl"
    with pytest.raises(UnsafePathError, match="manifest path"):
        await artifacts.fetch(backend.store, PREFIX, dest, evil)
    assert not dest.exists()  # refused before anything was written
    assert not (tmp_path / "deep" / "escape.txt").exists() and not Path("/tmp/escape.txt").exists()


async def test_fetch_does_not_write_through_a_symlink_in_the_destination(backend: Backend, tmp_path: Path) -> None:
    write(tmp_path / "out" / "sub" / "a.txt", "alpha")
    await artifacts.sync_dir(backend.store, tmp_path / "out", PREFIX)
    dest, elsewhere = tmp_path / "dl", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, dest / "sub")
    with pytest.raises(UnsafePathError, match="not a plain directory"):
        await artifacts.fetch(backend.store, PREFIX, dest)
    assert list(elsewhere.iterdir()) == []


async def test_fetch_refuses_bytes_that_do_not_match_the_manifest(backend: Backend, tmp_path: Path) -> None:
    write(tmp_path / "out" / "model.pt", "the real weights")
    manifest = await artifacts.sync_dir(backend.store, tmp_path / "out", PREFIX)
    await backend.store.put_bytes(f"{PREFIX}/model.pt", b"the fake weights")  # same size, other bytes
    dest = tmp_path / "dl"
    with pytest.raises(IntegrityError, match="do not match the manifest"):
        await artifacts.fetch(backend.store, PREFIX, dest, manifest)
    assert list(dest.rglob("*")) == []


async def test_sync_refuses_a_prefix_that_could_escape(backend: Backend, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    for prefix in ("../other", "/abs", "a/./b", ""):
        with pytest.raises(UnsafePathError):
            await artifacts.sync_dir(backend.store, tmp_path / "out", prefix)
    assert backend.objects() == []


async def test_a_file_swapped_for_a_symlink_after_the_scan_is_not_followed(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kuberun_operator.logstore import localfs

    out = tmp_path / "out"
    write(out / "sub" / "model.pt", "weights")
    write(out / "other.txt", "other")
    secret = write(tmp_path / "outside" / "shadow", "root:SECRET-HASH")
    real_scan = localfs.scan

    def scan_then_swap(root: Path):
        listing = real_scan(root)
        # The task acts between our listing and our open: the directory becomes a symlink out.
        (out / "sub" / "model.pt").unlink()
        (out / "sub").rmdir()
        os.symlink(secret.parent, out / "sub")
        (secret.parent / "model.pt").write_text("root:SECRET-HASH")
        return listing

    monkeypatch.setattr(localfs, "scan", scan_then_swap)
    manifest = await artifacts.sync_dir(backend.store, out, PREFIX)
    assert [e.path for e in manifest.entries] == ["other.txt"]
    assert [(s.path, s.reason) for s in manifest.skipped] == [("sub/model.pt", "changed")]
    assert f"{PREFIX}/sub/model.pt" not in backend.objects()


async def test_overlapping_syncs_of_one_prefix_run_one_after_the_other(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from kuberun_operator.logstore import artifacts

    for i in range(5):
        write(tmp_path / "out" / f"f{i}.txt", str(i) * 1000)
    active: dict[str, int] = {}
    most: dict[str, int] = {}
    real = artifacts._sync_dir  # the work inside the lock; the public sync_dir takes the lock

    async def counted(store, local_dir, prefix, previous=None, **bounds):
        active[prefix] = active.get(prefix, 0) + 1
        most[prefix] = max(most.get(prefix, 0), active[prefix])
        try:
            return await real(store, local_dir, prefix, previous, **bounds)
        finally:
            active[prefix] -= 1

    monkeypatch.setattr(artifacts, "_sync_dir", counted)
    other = PREFIX.replace("/1/", "/2/")
    results = await asyncio.gather(
        artifacts.sync_dir(backend.store, tmp_path / "out", PREFIX),
        artifacts.sync_dir(backend.store, tmp_path / "out", PREFIX),
        artifacts.sync_dir(backend.store, tmp_path / "out", other),
        artifacts.sync_dir(backend.store, tmp_path / "out", other),
    )
    assert most == {PREFIX: 1, other: 1}  # one at a time per prefix...
    assert all(r.entries == results[0].entries for r in results)
    assert backend.store._sync_locks == {}  # ...and nothing kept once they are done
