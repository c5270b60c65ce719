"""Read a task's code package from its chunk ConfigMaps, for backends that copy it over their own transport.

The SDK stores a package as ConfigMaps named by its digest (``tasks[].code.storage.configMaps``);
the Kubernetes backend just mounts them, but a bridge (Slurm over SSH) must hand the runner the
bytes. This joins the chunks in order and checks size and sha256 before anything is sent: wrong
bytes are a permanent ``CodeIntegrity`` failure naming the package, a missing chunk a
``CodeUnavailable`` one (the ConfigMaps were deleted, or never created). The runner verifies the
digest again on its side. Reading needs ``get`` on ConfigMaps (the chart grants it when Slurm
clusters are configured).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable

from kuberun.resource.code import CHUNK_KEY, CodeRef
from kuberun_operator.backends.base import BackendError
from kuberun_operator.kube import ApiError, Kube

CodeReader = Callable[[str, CodeRef], Awaitable[bytes]]


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
