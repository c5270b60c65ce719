"""How a log store is configured, and where its credentials come from (never from an Experiment).

The URL (``logStore.url`` in the chart) says *where*; credentials say *who*, and come from a mounted
Secret's files (``secret_dir``, one file per key) or, failing that, the operator's environment
(``envFrom`` the same Secret). The keys have the AWS SDKs' environment names, so one Secret works
both ways and with any S3-compatible server:

    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   required together, if either is given
    AWS_SESSION_TOKEN                          optional
    AWS_ENDPOINT_URL                           optional: MinIO, Ceph, a test server
    AWS_REGION                                 optional

With no credentials at all the S3 client's default chain applies (a workload identity, an instance
role). :class:`Credentials` never shows a secret in its ``repr`` and scrubs secrets out of any text
(backend error messages) before the store quotes it.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kuberun_operator.logstore import errors

MiB = 1 << 20
KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION")


@dataclass(frozen=True)
class StoreOptions:
    """Knobs of a store; every default is a bound, so nothing grows without limit.

    ``part_size`` is the S3 multipart part (S3's minimum is 5 MiB): an upload holds about two parts in
    memory whatever the log's size. ``chunk_size`` is the unit of reads and of hand-offs to the I/O
    thread. ``max_log_bytes`` caps one archived log (the rest is dropped and the Location says so).
    """

    secret_dir: Path | None = None
    environ: Mapping[str, str] | None = field(default=None, repr=False)  # None: os.environ
    part_size: int = 8 * MiB
    chunk_size: int = 1 * MiB
    max_log_bytes: int = 16 << 30
    max_artifact_files: int = 10_000
    max_artifact_bytes: int = 64 << 30
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 3  # per request, by the S3 client

    def __post_init__(self) -> None:
        if self.part_size < 5 * MiB:
            raise errors.LogStoreConfigError(f"part_size {self.part_size}: S3 needs at least 5 MiB per part")
        for name in ("chunk_size", "max_log_bytes", "max_artifact_files", "max_artifact_bytes", "max_attempts"):
            if getattr(self, name) < 1:
                raise errors.LogStoreConfigError(f"{name} must be at least 1")


class Credentials:
    """The S3 settings read from the Secret or the environment; ``repr`` shows which, never values."""

    def __init__(self, values: Mapping[str, str], source: str) -> None:
        self._values = {k: v for k, v in values.items() if k in KEYS and v}
        self.source = source
        key, secret = self._values.get("AWS_ACCESS_KEY_ID"), self._values.get("AWS_SECRET_ACCESS_KEY")
        if bool(key) != bool(secret):
            raise errors.LogStoreConfigError(
                f"log store credentials from {source}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together"
            )
        endpoint = self._values.get("AWS_ENDPOINT_URL")
        if endpoint:
            parsed = urllib.parse.urlsplit(endpoint)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise errors.LogStoreConfigError(f"AWS_ENDPOINT_URL from {source}: expected http(s)://host[:port]")
            if parsed.username or parsed.password:
                raise errors.LogStoreConfigError(
                    f"AWS_ENDPOINT_URL from {source}: credentials in the URL are refused; use the Secret's keys"
                )

    @classmethod
    def load(cls, options: StoreOptions) -> Credentials:
        if options.secret_dir is not None:
            directory = Path(options.secret_dir)
            if not directory.is_dir():
                raise errors.LogStoreConfigError(f"log store secret directory {directory} does not exist")
            values = {}
            for key in KEYS:
                file = directory / key
                if file.is_file():
                    values[key] = file.read_text().strip()
            return cls(values, f"secret directory {directory}")
        environ = os.environ if options.environ is None else options.environ
        return cls({k: environ.get(k, "") for k in KEYS}, "environment")

    @property
    def endpoint_url(self) -> str | None:
        return self._values.get("AWS_ENDPOINT_URL")

    def s3_options(self) -> dict[str, object]:
        """Keyword arguments for ``s3fs.S3FileSystem`` (the secret parts only; the store adds the rest)."""
        out: dict[str, object] = {}
        if "AWS_ACCESS_KEY_ID" in self._values:
            out["key"] = self._values["AWS_ACCESS_KEY_ID"]
            out["secret"] = self._values["AWS_SECRET_ACCESS_KEY"]
        if "AWS_SESSION_TOKEN" in self._values:
            out["token"] = self._values["AWS_SESSION_TOKEN"]
        if self.endpoint_url:
            out["endpoint_url"] = self.endpoint_url
        if "AWS_REGION" in self._values:
            out["client_kwargs"] = {"region_name": self._values["AWS_REGION"]}
        return out

    def scrub(self, text: str) -> str:
        """``text`` with every secret value (and the key id) replaced by ``***``."""
        for key in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
            value = self._values.get(key)
            if value:
                text = text.replace(value, "***")
        return text

    def __repr__(self) -> str:
        present = sorted(k for k in self._values if k != "AWS_ENDPOINT_URL")
        return f"Credentials(source={self.source!r}, keys={present}, endpoint_url={self.endpoint_url!r})"

    __str__ = __repr__

    def __reduce__(self):  # pickling would copy secrets into wherever the pickle goes
        raise TypeError("Credentials cannot be pickled")
