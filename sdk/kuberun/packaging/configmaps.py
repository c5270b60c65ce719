"""A code package as ConfigMap chunks, and back: pure dicts, so any client can create or read them.

Chunk names derive from the package's digest (``kuberun-code-<sha256>-<i>``), so the same code
submitted twice maps to the same objects: a creator that gets 409 Conflict already has them
(identical content is stored once). Each chunk holds at most ``CHUNK_SIZE`` raw bytes under
``binaryData`` (a ConfigMap holds at most 1 MiB) and carries the full digest and its index, so a
reader can tell a mis-assembled set from a complete one; the digest check on reassembly is final.
Who owns the chunks (the Experiments using them, or a garbage collector) is the caller's choice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from kuberun.packaging.archive import CodePackage
from kuberun.packaging.errors import PackageIntegrityError, PackageTooLargeError
from kuberun.resource.code import (
    ANNOTATION_CHUNK,
    ANNOTATION_CODE_SHA256,
    CHUNK_KEY,
    CONFIGMAP_CODE_LIMIT,
    LABEL_CODE_DIGEST,
    CodeRef,
    CodeStorage,
)
from kuberun.resource.constants import CHUNK_SIZE


def chunk_name(sha256: str, index: int) -> str:
    return f"kuberun-code-{sha256}-{index}"


def to_config_maps(package: CodePackage, *, namespace: str | None = None,
                   labels: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], CodeRef]:
    """The ConfigMaps holding ``package`` and the CodeRef that names them, in order."""
    if package.size > CONFIGMAP_CODE_LIMIT:
        raise PackageTooLargeError(
            f"code package is {package.size} bytes; ConfigMaps hold at most {CONFIGMAP_CODE_LIMIT}: "
            "configure an archive store for larger packages, or package less"
        )
    pieces = [package.data[i:i + CHUNK_SIZE] for i in range(0, len(package.data), CHUNK_SIZE)] or [b""]
    maps = []
    for index, piece in enumerate(pieces):
        meta: dict[str, Any] = {
            "name": chunk_name(package.sha256, index),
            "labels": {**(labels or {}), LABEL_CODE_DIGEST: package.sha256[:63]},
            "annotations": {ANNOTATION_CODE_SHA256: package.sha256, ANNOTATION_CHUNK: f"{index}/{len(pieces)}"},
        }
        if namespace:
            meta["namespace"] = namespace
        maps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "immutable": True,
                     "binaryData": {CHUNK_KEY: base64.b64encode(piece).decode("ascii")}})
    ref = package.to_code_ref(CodeStorage(config_maps=[m["metadata"]["name"] for m in maps]))
    return maps, ref


def from_config_maps(ref: CodeRef, config_maps: list[dict[str, Any]] | dict[str, dict[str, Any]]) -> bytes:
    """The package bytes ``ref`` names, reassembled from ``config_maps`` (a list, or a dict by name) and verified."""
    names = ref.storage.config_maps
    if names is None:
        raise PackageIntegrityError(f"code package {ref.sha256[:12]} is stored at a URL, not in ConfigMaps")
    by_name = config_maps if isinstance(config_maps, dict) else {m.get("metadata", {}).get("name"): m for m in config_maps}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise PackageIntegrityError(f"code package {ref.sha256[:12]}: ConfigMaps missing: {', '.join(missing)}")
    parts = []
    for name in names:
        encoded = (by_name[name].get("binaryData") or {}).get(CHUNK_KEY)
        if not isinstance(encoded, str):
            raise PackageIntegrityError(f"ConfigMap {name}: no binaryData.{CHUNK_KEY}")
        try:
            parts.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            raise PackageIntegrityError(f"ConfigMap {name}: binaryData.{CHUNK_KEY} is not base64") from None
    data = b"".join(parts)
    actual = hashlib.sha256(data).hexdigest()
    if actual != ref.sha256 or len(data) != ref.size:
        raise PackageIntegrityError(f"code package reassembled from {len(names)} ConfigMap(s) has sha256 {actual} "
                                    f"({len(data)} bytes), the record says {ref.sha256} ({ref.size} bytes)")
    return data
