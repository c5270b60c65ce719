"""From an Experiment object (as the API server returns it) to the row the archive keeps.

Pure functions over plain dicts, deliberately *not* through the SDK's pydantic models: the
archive must keep what this operator does not understand (a status written by a newer operator,
a spec field from a newer SDK), so documents are copied as they are and only the few columns the
archive queries on are read out of them, leniently. Missing identity (uid, namespace, name,
creationTimestamp) is the only thing refused: without it a record cannot be found again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kuberun.resource import times
from kuberun.resource.constants import (
    ANNOTATION_REPRODUCED_FROM_UID,
    API_VERSION,
    KIND,
    LABEL_REPRODUCED_FROM,
    LABEL_SUBMITTER,
)
from kuberun_operator.archive import limits
from kuberun_operator.archive.errors import InvalidRecord, RecordTooLarge


@dataclass
class ArchivedExperiment:
    """One archived Experiment: the columns queries use, and the documents as recorded.

    ``metadata``, ``spec`` and ``events`` are ``None`` in query summaries (``full=False``).
    """

    uid: str
    namespace: str
    name: str
    title: str
    submitter: str | None
    phase: str | None
    created: datetime
    finished: datetime | None
    deleted: datetime | None
    archived_at: datetime | None
    labels: dict[str, str]
    reproduced_from_uid: str | None
    reproduced_from_name: str | None
    api_version: str = API_VERSION
    metadata: dict[str, Any] | None = None
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    events: list[dict[str, Any]] | None = field(default=None)
    events_dropped: int = 0

    def to_object(self) -> dict[str, Any]:
        """The Experiment as it last was, for `describe`/`reproduce` when the object is gone."""
        obj: dict[str, Any] = {"apiVersion": self.api_version, "kind": KIND,
                               "metadata": dict(self.metadata or {}), "spec": self.spec}
        if self.status is not None:
            obj["status"] = self.status
        return obj


def archive_record(obj: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = (),
                   archived_at: datetime | None = None) -> ArchivedExperiment:
    """The archive row for an Experiment object and the Events about it.

    Pure: ``archived_at`` is whatever the caller says (the archive passes its clock's now).
    Raises ``InvalidRecord`` when identity is missing and ``RecordTooLarge`` past the bounds.
    """
    if not isinstance(obj, Mapping):
        raise InvalidRecord(f"cannot archive: expected an Experiment object (a mapping), got {type(obj).__name__}")
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        raise InvalidRecord("cannot archive: the object has no metadata")
    uid, namespace, name = (_required_str(meta, key) for key in ("uid", "namespace", "name"))
    created = parse_time(meta.get("creationTimestamp"))
    if created is None:
        raise InvalidRecord(f"cannot archive {namespace}/{name}: metadata.creationTimestamp missing or not a time")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidRecord(f"cannot archive {namespace}/{name}: spec missing or not an object")
    status = obj.get("status")
    status = status if isinstance(status, Mapping) else None
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = meta.get("annotations") or {}
    # managedFields is the API server's bookkeeping, often larger than the spec, and meaningless
    # once the object is gone.
    kept_meta = {k: v for k, v in meta.items() if k != "managedFields"}
    for what, doc, bound in (("metadata", kept_meta, limits.MAX_DOCUMENT_BYTES),
                             ("metadata.labels", labels, limits.MAX_LABELS_BYTES),
                             ("spec", spec, limits.MAX_DOCUMENT_BYTES), ("status", status, limits.MAX_DOCUMENT_BYTES)):
        check_size(what, doc, bound)
    title = _text(spec.get("title"))
    phase = _text(status.get("phase")) if status else None
    return ArchivedExperiment(
        uid=uid, namespace=namespace, name=name, title=title or "",
        submitter=_text(spec.get("submittedBy")) or labels.get(LABEL_SUBMITTER),
        phase=phase[:32] if phase else None,
        created=created,
        finished=parse_time(status.get("completionTime")) if status else None,
        deleted=parse_time(meta.get("deletionTimestamp")),
        archived_at=archived_at,
        labels=labels,
        reproduced_from_uid=_text(annotations.get(ANNOTATION_REPRODUCED_FROM_UID)) or None,
        reproduced_from_name=labels.get(LABEL_REPRODUCED_FROM),
        api_version=_text(obj.get("apiVersion")) or API_VERSION,
        metadata=kept_meta, spec=dict(spec), status=dict(status) if status is not None else None,
        events=[dict(e) for e in events if isinstance(e, Mapping)],
    )


def merge_events(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]],
                 dropped_before: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Old and new Events as one list, oldest first, each Event once, bounded.

    Kubernetes expires Events after an hour, so the Events at deletion are not those at finish:
    the archive keeps the union. An Event is identified by its uid (the newer copy, with a higher
    ``count``, wins); one without a uid by its whole text. Past ``MAX_EVENTS`` or
    ``MAX_EVENTS_BYTES`` the oldest are dropped and counted.
    """
    by_key: dict[str, dict[str, Any]] = {}
    for event in [*old, *new]:
        by_key[_event_key(event)] = dict(event)
    ordered = sorted(by_key.values(), key=_event_time)
    dropped = dropped_before + max(0, len(ordered) - limits.MAX_EVENTS)
    ordered = ordered[-limits.MAX_EVENTS:]
    total, keep = 0, 0
    for event in reversed(ordered):
        total += len(compact_json(event)) + 1
        if total > limits.MAX_EVENTS_BYTES:
            break
        keep += 1
    dropped += len(ordered) - keep
    return ordered[len(ordered) - keep:], dropped


def compact_json(doc: Any) -> bytes:
    """The form documents are stored and measured in: compact, UTF-8, key order kept."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def check_size(what: str, doc: Any, bound: int) -> None:
    try:
        size = len(compact_json(doc))
    except (TypeError, ValueError) as e:
        raise InvalidRecord(f"cannot archive: {what} is not JSON ({e})") from None
    if size > bound:
        raise RecordTooLarge(what, size, bound)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time as Kubernetes writes it (``2026-01-02T03:04:05Z``), aware; else ``None``."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        return times.parse_time(value)
    except ValueError:
        return None


def _required_str(meta: Mapping[str, Any], key: str) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"cannot archive: metadata.{key} missing or empty")
    if len(value) > (128 if key == "uid" else limits.MAX_NAME):
        raise InvalidRecord(f"cannot archive: metadata.{key} is longer than the archive allows")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _event_key(event: Mapping[str, Any]) -> str:
    uid = (event.get("metadata") or {}).get("uid") if isinstance(event.get("metadata"), Mapping) else None
    return f"uid:{uid}" if isinstance(uid, str) and uid else "doc:" + compact_json(event).decode()


def _event_time(event: Mapping[str, Any]) -> datetime:
    meta = event.get("metadata") if isinstance(event.get("metadata"), Mapping) else {}
    for value in (event.get("lastTimestamp"), (event.get("series") or {}).get("lastObservedTime")
                  if isinstance(event.get("series"), Mapping) else None,
                  event.get("eventTime"), event.get("firstTimestamp"), meta.get("creationTimestamp")):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return datetime.min.replace(tzinfo=timezone.utc)
