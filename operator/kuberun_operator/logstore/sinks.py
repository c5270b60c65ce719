"""Atomic writers: a reader of a key sees the previous object or the complete new one, never a prefix.

Two ways to get there, chosen by the backend, because the obvious generic one is wrong for both:

- **S3**: a multipart upload is invisible until ``CompleteMultipartUpload``, so we write straight to
  the final key and complete it at the end (or abort it, which frees the uploaded parts). A temp-key-then-rename would be a full server-side copy, and not atomic either.
- **Directories**: fsspec's own ``autocommit=False`` writes to the system temp directory and then
  ``shutil.move``\\s, which across filesystems is a copy a reader can watch grow. We write a hidden
  sibling (``.<name>.kuberun-partial-<random>``), fsync it, and rename it over the key within one
  directory, which POSIX makes atomic.

These are blocking objects; the store drives them from a worker thread. Memory held is the caller's
chunk plus, for S3, one part being filled and one being sent.
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
    """A multipart upload driven directly (not through s3fs' file object, whose buffering holds about
    three copies of a part): one ``part_size`` buffer, one part in flight. Small objects, and empty
    ones, go in a single PutObject at commit, which is atomic too."""

    def __init__(self, fs: Any, path: str, part_size: int) -> None:
        self._fs = fs
        self._bucket, self._key, _ = fs.split_path(path)
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def _send_part(self, body: bytes) -> None:
        if self._upload_id is None:
            started = self._fs.call_s3("create_multipart_upload", Bucket=self._bucket, Key=self._key)
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        out = self._fs.call_s3(
            "upload_part", Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"PartNumber": number, "ETag": out["ETag"]})

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self._part_size:
            body = bytes(memoryview(self._buffer)[: self._part_size])
            del self._buffer[: self._part_size]  # in place: no second buffer
            self._send_part(body)
            del body

    def commit(self) -> None:
        if self._upload_id is None:
            self._fs.call_s3("put_object", Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
        else:
            if self._buffer:  # the last part may be smaller than S3's 5 MiB minimum
                self._send_part(bytes(self._buffer))
            self._fs.call_s3(
                "complete_multipart_upload",
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()
        self._fs.invalidate_cache(f"{self._bucket}/{self._key}")

    def discard(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None:  # frees the parts already uploaded
            self._fs.call_s3("abort_multipart_upload", Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
            self._upload_id = None


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
