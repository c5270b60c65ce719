"""Fixtures of the log store tests: one moto S3 server per session, and a store per test that is
parametrized over the directory backend and the S3 backend (a fresh bucket each time)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kuberun_operator.logstore import LogStore, StoreOptions
from tests.harness import s3

MiB = 1 << 20
PART = 5 * MiB  # S3's minimum part: the smallest memory bound the store can have


@pytest.fixture(scope="session")
def s3_server() -> Iterator[s3.S3Server]:
    yield from s3.session_server()


@dataclass
class Backend:
    """A store plus a view of the backend underneath it that does not go through the store."""

    store: LogStore
    kind: str
    root: Path | None = None
    server: s3.S3Server | None = None
    bucket: str | None = None

    def objects(self) -> list[str]:
        """Every object under the store root, hidden temp files included (keys relative to the root)."""
        if self.kind == "dir":
            assert self.root is not None
            if not self.root.exists():
                return []
            return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())
        assert self.server is not None and self.bucket is not None
        return [k.removeprefix("archive/") for k in self.server.keys(self.bucket)]

    def pending_uploads(self) -> list[object]:
        if self.kind == "dir":
            return []
        assert self.server is not None and self.bucket is not None
        return self.server.pending_uploads(self.bucket)


def make_backend(kind: str, tmp_path: Path, request: pytest.FixtureRequest, **options: object) -> Backend:
    if kind == "dir":
        root = tmp_path / "store"
        return Backend(LogStore.from_url(str(root), StoreOptions(part_size=PART, **options)), "dir", root=root)
    server: s3.S3Server = request.getfixturevalue("s3_server")
    bucket = f"kuberun-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    store = LogStore.from_url(f"s3://{bucket}/archive", StoreOptions(environ=server.environ(), part_size=PART, **options))
    return Backend(store, "s3", server=server, bucket=bucket)


@pytest.fixture(params=["dir", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, tmp_path, request)


@pytest.fixture
def store(backend: Backend) -> LogStore:
    return backend.store


@pytest.fixture
def make(request: pytest.FixtureRequest, tmp_path: Path):
    """Another backend of the same kind as ``backend`` with different options."""

    def build(kind: str, **options: object) -> Backend:
        return make_backend(kind, tmp_path / uuid.uuid4().hex[:6], request, **options)

    return build


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def bump_mtime(path: Path) -> None:
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
