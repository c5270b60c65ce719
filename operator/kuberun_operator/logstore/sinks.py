"""Atomic writers: a reader of a key sees the previous object or the complete new one, never a prefix.

Two ways to get there, chosen by the backend, because the obvious generic one is wrong for both:

- **S3**: a multipart upload is invisible until ``CompleteMultipartUpload``, so we write straight to
  the final key with ``autocommit=False`` and commit (or abort, which frees the uploaded parts) at the
  end. A temp-key-then-rename would be a full server-side copy, and not atomic either.
- **Directories**: fsspec's own ``autocommit=False`` writes to the system temp directory and then
  ``shutil.move``\\s, which across filesystems is a copy a reader can watch grow. We write a hidden
  sibling (``.<name>.kuberun-partial-<random>``), fsync it, and rename it over the key within one
  directory, which POSIX makes atomic.

These are blocking objects; the store drives them from a worker thread. Memory held is the caller's
chunk plus, for S3, the file object's buffer of about one part (``block_size``).
"""

from __future__ import annotations

import os
import secrets
from typing import Any, Protocol

PARTIAL_MARK = ".kuberun-partial-"


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


class S3Sink:
    def __init__(self, fs: Any, path: str, part_size: int) -> None:
        self._file = fs.open(path, "wb", block_size=part_size, autocommit=False)

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        self._file.close()  # uploads the last part; with autocommit=False nothing is visible yet
        self._file.commit()

    def discard(self) -> None:
        # close() would upload the buffer; drop it first so only the abort goes out.
        self._file.buffer = None
        self._file.closed = True
        self._file.discard()


class RenameSink:
    def __init__(self, fs: Any, path: str) -> None:
        self._fs = fs
        self._path = path
        parent, _, name = path.rpartition("/")
        fs.makedirs(parent, exist_ok=True)
        self._temp = f"{parent}/.{name}{PARTIAL_MARK}{secrets.token_hex(6)}"
        self._file = fs.open(self._temp, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        self._file.flush()
        fileno = getattr(self._file, "fileno", None)
        if fileno is not None:
            os.fsync(fileno())  # so the rename never publishes a name whose data a crash loses
        self._file.close()
        self._fs.mv(self._temp, self._path)

    def discard(self) -> None:
        try:
            self._file.close()
        finally:
            if self._fs.exists(self._temp):
                self._fs.rm_file(self._temp)


def open_sink(fs: Any, protocol: str, path: str, part_size: int) -> Sink:
    if protocol == "s3":
        return S3Sink(fs, path, part_size)
    return RenameSink(fs, path)
