"""The ConfigMaps an Experiment's spec points at, as the archive keeps them: content stored once by digest.

A task's Fiddle config over the inline limit lives in ConfigMaps (``fiddle.configMapRefs``), and a
packaged code directory in ConfigMap chunks (``code.storage.configMaps``). Both are owned by the
Experiment, so deleting it deletes them — and ``describe``/``reproduce`` from the archive would have
a spec naming objects that are gone. The archive keeps each one as a small *document* per
(experiment uid, ConfigMap name) — name, labels, annotations, and for each key the sha256 of its
bytes — and each distinct content once in ``archive_blobs`` (the same code package shipped with a
hundred experiments is stored once). ``rebuild`` turns a document and its blobs back into the
ConfigMap as it was created (without owner references), so a reproduction can create it again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kuberun_operator.archive import limits
from kuberun_operator.archive.errors import InvalidRecord


@dataclass(frozen=True)
class Blob:
    sha256: str
    data: bytes


@dataclass(frozen=True)
class SplitConfigMap:
    name: str
    document: dict[str, Any]
    blobs: tuple[Blob, ...]


def split(cm: Mapping[str, Any]) -> SplitConfigMap:
    """A ConfigMap as (document, blobs). Raises InvalidRecord for what is not a bounded ConfigMap."""
    if not isinstance(cm, Mapping):
        raise InvalidRecord(f"a ConfigMap must be a mapping, got {type(cm).__name__}")
    meta = cm.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 253:
        raise InvalidRecord(f"a ConfigMap needs a name of 1-253 characters, got {name!r}")
    blobs: list[Blob] = []
    document: dict[str, Any] = {"metadata": {"name": name, "labels": dict(meta.get("labels") or {}),
                                             "annotations": dict(meta.get("annotations") or {})},
                                "immutable": bool(cm.get("immutable")), "data": {}, "binaryData": {}}
    total = 0
    for field in ("data", "binaryData"):
        for key, value in (cm.get(field) or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidRecord(f"ConfigMap {name!r}: {field}.{key!r} must be a string")
            try:
                raw = value.encode("utf-8") if field == "data" else base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidRecord(f"ConfigMap {name!r}: binaryData.{key!r} is not base64") from None
            total += len(raw)
            digest = hashlib.sha256(raw).hexdigest()
            document[field][key] = digest
            blobs.append(Blob(digest, raw))
    if total > limits.MAX_CONFIG_MAP_BYTES:
        raise InvalidRecord(f"ConfigMap {name!r} holds {total} bytes; at most {limits.MAX_CONFIG_MAP_BYTES}")
    return SplitConfigMap(name, document, tuple(blobs))


def checked(items: Sequence[Mapping[str, Any]]) -> list[SplitConfigMap]:
    if len(items) > limits.MAX_CONFIG_MAPS_PER_CALL:
        raise InvalidRecord(f"more than {limits.MAX_CONFIG_MAPS_PER_CALL} ConfigMaps in one call: send batches")
    return [split(cm) for cm in items]


def rebuild(document: Mapping[str, Any], blobs: Mapping[str, bytes], namespace: str) -> dict[str, Any] | None:
    """The ConfigMap a document describes (None when one of its blobs is missing)."""
    meta = dict(document.get("metadata") or {})
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {k: v for k, v in {**meta, "namespace": namespace}.items() if v}}
    if document.get("immutable"):
        cm["immutable"] = True
    for field in ("data", "binaryData"):
        keys = document.get(field) or {}
        if not keys:
            continue
        out = {}
        for key, digest in keys.items():
            raw = blobs.get(digest)
            if raw is None:
                return None
            out[key] = raw.decode("utf-8") if field == "data" else base64.b64encode(raw).decode("ascii")
        cm[field] = out
    return cm


def digests(document: Mapping[str, Any]) -> set[str]:
    return {d for field in ("data", "binaryData") for d in (document.get(field) or {}).values()}
