"""Read a task's code package, for backends that copy it over their own transport.

The SDK stores a package up to 8 MiB as ConfigMaps named by its digest
(``tasks[].code.storage.configMaps``), a larger one in the operator's log store through the record
server (``storage.url`` = ``kuberun.resource.code.store_url``). The Kubernetes backend mounts the
ConfigMaps, but a bridge (Slurm over SSH, SkyPilot's upload, Lepton's file storage) and the local
executor must hand the runner the bytes. The reader joins the chunks in order, or reads the store's
``<namespace>/code/<sha256>.tar.gz`` — the key derived from the Experiment's own namespace, never
from the spec, so a spec cannot name another namespace's package — and checks size and sha256
before anything is sent: wrong bytes are a permanent ``CodeIntegrity`` failure naming the package,
a missing chunk or object a ``CodeUnavailable`` one. The runner verifies the digest again on its
side. Reading ConfigMaps needs ``get`` on them (the chart grants it when a bridge or the local
executor is configured).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from kuberun.resource.code import CHUNK_KEY, CodeRef, in_store
from kuberun_operator.backends.base import BackendError
from kuberun_operator.kube import ApiError, Kube

CodeReader = Callable[[str, CodeRef], Awaitable[bytes]]


def code_reader(kube: Kube | None, store: Any | None = None) -> CodeReader | None:
    """The reader for both kinds of storage (None when neither is reachable: packaged tasks are refused).

    ``store``: the operator's ``LogStore`` (None: packages over the ConfigMap limit cannot be read).
    """
    if kube is None and store is None:
        return None
    maps = config_map_reader(kube) if kube is not None else None

    async def read(namespace: str, ref: CodeRef) -> bytes:
        if ref.storage.config_maps is not None:
            if maps is None:
                raise BackendError("CodeNotDelivered", f"code package {ref.sha256[:12]} is in ConfigMaps, which this "
                                   "operator has no API access to read", permanent=True)
            return await maps(namespace, ref)
        if not in_store(ref.storage, ref.sha256):
            raise BackendError("CodeUnavailable", f"code package {ref.sha256[:12]}: storage URL {ref.storage.url!r:.120} "
                               "is not the operator's store; only packages uploaded through the record server are read",
                               permanent=True)
        if store is None:
            raise BackendError("CodeNotDelivered", f"code package {ref.sha256[:12]} ({ref.size} bytes) is over the "
                               "ConfigMap limit and this operator has no log store to read it from", permanent=True)
        return await store_read(store, namespace, ref)

    return read


async def store_read(store: Any, namespace: str, ref: CodeRef) -> bytes:
    """The package from the log store, size and sha256 checked (at most ``ref.size`` bytes are read)."""
    from kuberun_operator.logstore import LogNotFoundError, LogStoreError, paths

    short = ref.sha256[:12]
    try:
        key = paths.code_key(namespace, ref.sha256)
        digest, parts, size = hashlib.sha256(), [], 0
        async for chunk in await store.open_log(key, length=ref.size + 1):
            digest.update(chunk)
            parts.append(chunk)
            size += len(chunk)
    except LogNotFoundError:
        raise BackendError("CodeUnavailable", f"code package {short} is not in the log store of namespace {namespace!r} "
                           "(uploaded from another namespace, or removed)", permanent=True) from None
    except LogStoreError as exc:
        raise BackendError("CodeUnavailable", f"code package {short}: reading the log store: {exc}", permanent=False) from None
    if size != ref.size or digest.hexdigest() != ref.sha256:
        raise BackendError("CodeIntegrity", f"code package {short}: the log store holds other bytes "
                           f"({size} bytes, sha256 {digest.hexdigest()[:12]})", permanent=True)
    return b"".join(parts)


def config_map_reader(kube: Kube) -> CodeReader:
    async def read(namespace: str, ref: CodeRef) -> bytes:
        parts = []
        for name in ref.storage.config_maps or []:
            try:
                cm = await kube.get_config_map(namespace, name)
            except ApiError as exc:
                if exc.status == 404:
                    raise BackendError("CodeUnavailable", f"code package {ref.sha256[:12]}: ConfigMap {name} is gone",
                                       permanent=True) from None
                raise BackendError("CodeUnavailable", f"code package {ref.sha256[:12]}: reading ConfigMap {name}: {exc}",
                                   permanent=not exc.transient) from None
            encoded = (cm.get("binaryData") or {}).get(CHUNK_KEY)
            try:
                parts.append(base64.b64decode(encoded or "", validate=True))
            except (binascii.Error, ValueError):
                raise BackendError("CodeIntegrity", f"ConfigMap {name}: binaryData.{CHUNK_KEY} is not base64", permanent=True) from None
        if not parts:
            raise BackendError("CodeUnavailable", f"code package {ref.sha256[:12]} is not stored in ConfigMaps", permanent=True)
        data = b"".join(parts)
        if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise BackendError("CodeIntegrity", f"code package {ref.sha256[:12]}: the ConfigMaps hold other bytes "
                               f"({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]})", permanent=True)
        return data

    return read
