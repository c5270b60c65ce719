"""Projected, downward-API and service-account-token volumes, as a kubelet fills them.

A real API server's ServiceAccount admission gives every pod a ``kube-api-access-*`` projected
volume (a bound service-account token, the cluster CA from ``kube-root-ca.crt``, the namespace from
the downward API) mounted at ``/var/run/secrets/kubernetes.io/serviceaccount``. The emulator never
adds it, so the sandbox node only meets these volumes against a real control plane; a pod that
cannot get them would never start, so they are filled here as the kubelet does: the token through
the TokenRequest API, bound to the pod — and, while the pod runs, replaced before it expires
(``keep_tokens_fresh``), as the kubelet does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
from typing import Any

from .rest import KubeError, Rest, path

DEFAULT_TOKEN_SECONDS = 3607  # what ServiceAccount admission puts in kube-api-access volumes
REFRESH_AT = 0.8  # the kubelet replaces a projected token once 80 % of its lifetime has passed
log = logging.getLogger("kuberun_sandbox")


class ProjectionError(Exception):
    """A source of the volume cannot be read (missing key, token refused)."""


def _write(directory: pathlib.Path, rel: str, data: str) -> None:
    file = directory / rel
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(data)


def fill_downward(pod: dict[str, Any], items: list[dict[str, Any]], directory: pathlib.Path,
                  field_value: Any) -> None:
    for item in items:
        if "fieldRef" in item:
            _write(directory, item["path"], field_value(pod, item["fieldRef"]["fieldPath"]))
        elif "resourceFieldRef" in item:
            # No cgroup limits here: report the request/limit as written, or nothing.
            ref = item["resourceFieldRef"]
            kind, _, resource = ref["resource"].partition(".")
            containers = (pod.get("spec") or {}).get("containers") or [{}]
            container = next((c for c in containers if c.get("name") == ref.get("containerName")), containers[0])
            value = ((container.get("resources") or {}).get(kind) or {}).get(resource, "")
            _write(directory, item["path"], str(value))


async def service_account_token(rest: Rest, pod: dict[str, Any], source: dict[str, Any]) -> str:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    account = spec.get("serviceAccountName") or "default"
    body: dict[str, Any] = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
        "expirationSeconds": int(source.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS),
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}}
    if source.get("audience"):
        body["spec"]["audiences"] = [source["audience"]]
    result = await rest.request("POST", path("", "v1", "serviceaccounts", meta["namespace"], account, "token"), body)
    token: str = ((result or {}).get("status") or {}).get("token") or ""
    if not token:
        raise ProjectionError(f"no token for service account {meta['namespace']}/{account}")
    return token


async def fill_projected(rest: Rest, pod: dict[str, Any], volume: dict[str, Any], directory: pathlib.Path,
                         source_data: Any, field_value: Any) -> None:
    """Write every source of a projected volume into ``directory``."""
    namespace = pod["metadata"]["namespace"]
    for source in volume["projected"].get("sources") or []:
        if "serviceAccountToken" in source:
            sat = source["serviceAccountToken"]
            _write(directory, sat["path"], await service_account_token(rest, pod, sat))
        elif "downwardAPI" in source:
            fill_downward(pod, source["downwardAPI"].get("items") or [], directory, field_value)
        elif "configMap" in source or "secret" in source:
            kind = "configMap" if "configMap" in source else "secret"
            ref = source[kind]
            data = await source_data(rest, namespace, kind, ref["name"], bool(ref.get("optional")))
            for item in ref.get("items") or [{"key": k, "path": k} for k in data]:
                if item["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise ProjectionError(f"key {item['key']!r} not found in {kind} {ref['name']}")
                _write(directory, item["path"], data[item["key"]])
        else:
            raise ProjectionError(f"projected volume {volume['name']!r}: unsupported source {sorted(source)}")


async def keep_tokens_fresh(rest: Rest, pod: dict[str, Any], volumes_dir: pathlib.Path,
                            refresh_at: float = REFRESH_AT) -> None:
    """Replace every projected token of ``pod`` (under ``volumes_dir/<volume>/<path>``) each time
    ``refresh_at`` of its lifetime has passed; runs until cancelled. A refused refresh is logged and
    tried at the next turn; the old token stays in place (it may still be valid)."""
    sources = [(volume["name"], source["serviceAccountToken"])
               for volume in (pod.get("spec") or {}).get("volumes") or [] if "projected" in volume
               for source in volume["projected"].get("sources") or [] if "serviceAccountToken" in source]
    if not sources:
        return
    period = min(int(sat.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS) for _, sat in sources) * refresh_at
    while True:
        await asyncio.sleep(period)
        for name, sat in sources:
            try:
                token = await service_account_token(rest, pod, sat)
            except (ProjectionError, KubeError, OSError) as e:
                log.warning("pod %s: projected token %s/%s not refreshed: %s", pod["metadata"]["name"], name, sat["path"], e)
                continue
            target = volumes_dir / name / sat["path"]
            tmp = target.with_name(f".{target.name}.refresh")
            tmp.write_text(token)
            os.replace(tmp, target)  # readers see the old token or the new one, never half of one
