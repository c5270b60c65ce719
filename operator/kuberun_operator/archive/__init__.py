"""The archive: a record of every Experiment that outlives the object, its pods and etcd.

When an Experiment finishes (and again when it is deleted or expires) the operator writes its
full record here — metadata, spec, status and Events as they were, with lineage — and, as tasks
report them, metric series and the locations of copied logs and artifacts. ``kuberun list
--archived``/``describe``/``reproduce`` read it when the object is gone. SQLite is the embedded
default (the sandbox); PostgreSQL serves clusters. See docs/archive.md.

Everything a caller needs is re-exported here; the modules are:
``record`` (pure: object → row), ``series`` (metric points, locations), ``attempts`` (each
attempt as it ended), ``schema`` (tables),
``migrate`` + ``migrations/`` (Alembic), ``engine`` (per-dialect connection setup), ``writes`` and
``queries`` (SQL), ``paging`` (continue tokens), ``store`` (``Archive``), ``aio`` (``AsyncArchive``),
``limits`` and ``errors``.
"""

from kuberun_operator.archive.aio import AsyncArchive
from kuberun_operator.archive.attempts import ArchivedAttempt
from kuberun_operator.archive.errors import (
    ArchiveError,
    ArchiveUnavailable,
    InvalidContinueToken,
    InvalidQuery,
    InvalidRecord,
    RecordTooLarge,
)
from kuberun_operator.archive.record import ArchivedExperiment, archive_record
from kuberun_operator.archive.series import Location, MetricPoint
from kuberun_operator.archive.store import DEFAULT_URL, Archive

__all__ = [
    "DEFAULT_URL",
    "Archive",
    "ArchiveError",
    "ArchiveUnavailable",
    "ArchivedAttempt",
    "ArchivedExperiment",
    "AsyncArchive",
    "InvalidContinueToken",
    "InvalidQuery",
    "InvalidRecord",
    "Location",
    "MetricPoint",
    "RecordTooLarge",
    "archive_record",
]
