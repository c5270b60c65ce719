"""Archived logs and artifacts: what an attempt leaves behind, kept after its pod, node or cluster.

A store is addressed by URL through fsspec — a directory (the embedded default) or an S3-compatible
bucket — with credentials from a mounted Secret or the environment, never from an Experiment. Writes
stream with bounded memory and are atomic (a reader sees the previous object or the whole new one);
artifact syncs are incremental, bounded and refuse every path that could leave its directory.
See docs/logstore.md for the layout, URLs and the Secret's shape.

    store = LogStore.from_url("s3://bucket/kuberun", StoreOptions(secret_dir=Path("/etc/kuberun/logstore")))
    key = paths.log_key(namespace, name, uid, task, attempt)
    location = await store.put_log(key, chunks)          # -> Location(url, size, sha256)
    async for chunk in await store.open_log(key, tail_lines=100): ...
    manifest = await artifacts.sync_dir(store, output_dir, paths.artifacts_prefix(...), previous_manifest)
"""

from kuberun_operator.logstore import paths
from kuberun_operator.logstore.artifacts import Manifest, ManifestEntry, Skipped, read_manifest
from kuberun_operator.logstore.errors import (
    IntegrityError,
    LogNotFoundError,
    LogStoreConfigError,
    LogStoreError,
    UnsafePathError,
)
from kuberun_operator.logstore.options import Credentials, StoreOptions
from kuberun_operator.logstore.store import Location, LogStore

__all__ = [
    "Credentials",
    "IntegrityError",
    "Location",
    "LogNotFoundError",
    "LogStore",
    "LogStoreConfigError",
    "LogStoreError",
    "Manifest",
    "ManifestEntry",
    "Skipped",
    "StoreOptions",
    "UnsafePathError",
    "paths",
    "read_manifest",
]
