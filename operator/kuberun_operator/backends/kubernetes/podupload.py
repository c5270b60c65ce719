"""What a task pod needs to upload its series and artifacts: a pod-bound token and where to send it.

A pod's files are not reachable from the operator on a real cluster, and the pod must hold no store
credentials (docs/results.md). So the generated pod gets a projected ``serviceAccountToken`` volume
for the record server's audience only (``kuberun.resource.upload.AUDIENCE``; the kubelet mints it,
bound to the pod, and refreshes it; the API server itself refuses it), and the environment that tells
the runner where the attempt's upload URL is. Nothing here is secret: the URL, the token's *path* and
the server's CA certificate. Pod Security ``restricted`` allows projected volumes, and
``automountServiceAccountToken`` stays false (this token is not an API credential).

The URL comes from the endpoints ConfigMap the record server publishes (``kuberun-system/
kuberun-endpoints``, readable by every authenticated identity), read at most every ``TTL`` seconds;
no ConfigMap, no URL in it, or a plain ``http://`` one (the token would travel in clear) means no
uploads (the files stay in the pod, as before).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kuberun.resource import recordserver, upload
from kuberun_operator.kube import ApiError

log = logging.getLogger("kuberun.operator")

TTL = 60.0  # seconds an endpoints answer is reused
MISSING_TTL = 5.0  # ... and an answer that there is none (the server may be publishing right now)


@dataclass(frozen=True)
class UploadEndpoint:
    """The record server's base URL, the PEM of its CA (an env value: public data), the periodic upload's interval."""

    url: str
    ca: str | None = None
    period: float = upload.DEFAULT_PERIOD


def env(to: UploadEndpoint, attempt_path: str, escape: Callable[[str], str]) -> list[dict[str, Any]]:
    out = [{"name": upload.URL_ENV, "value": escape(to.url.rstrip("/") + attempt_path)},
           {"name": upload.TOKEN_ENV, "value": f"{upload.TOKEN_DIR}/{upload.TOKEN_FILE}"},
           {"name": upload.PERIOD_ENV, "value": f"{to.period:g}"}]
    if to.ca:
        out.append({"name": upload.CA_ENV, "value": escape(to.ca)})
    return out


def volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the projected volume, its read-only mount)."""
    source = {"serviceAccountToken": {"audience": upload.AUDIENCE, "expirationSeconds": upload.TOKEN_SECONDS,
                                      "path": upload.TOKEN_FILE}}
    return ({"name": upload.VOLUME, "projected": {"sources": [source]}},
            {"name": upload.VOLUME, "mountPath": upload.TOKEN_DIR, "readOnly": True})


class Endpoints:
    """The published record server, cached for ``TTL`` seconds (read with the operator's ``Kube``)."""

    def __init__(self, kube: Any, period: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._kube, self._period, self._clock = kube, period, clock
        self._cached: tuple[float, UploadEndpoint | None] | None = None

    async def current(self) -> UploadEndpoint | None:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < (TTL if self._cached[1] else MISSING_TTL):
            return self._cached[1]
        found: UploadEndpoint | None = None
        try:
            cm = await self._kube.get_config_map(recordserver.ENDPOINTS_NAMESPACE, recordserver.ENDPOINTS_CONFIGMAP)
        except ApiError as exc:  # not published (404), or unreadable: no uploads, as before the server existed
            if exc.status != 404:
                log.warning("pod uploads: the endpoints ConfigMap cannot be read (%s); pods get no upload URL", exc)
            cm = None
        data = (cm or {}).get("data") or {}
        url = data.get(recordserver.KEY_URL)
        if isinstance(url, str) and url.startswith("https://"):  # a token never travels in clear
            found = UploadEndpoint(url, data.get(recordserver.KEY_CA) or None, self._period)
        self._cached = (now, found)
        return found
