"""A small synchronous Kubernetes REST client on urllib3, with its own kubeconfig reader.

Why not the ``kubernetes`` package: importing it takes ~0.6 s (every model class loads), more
than a whole ``kuberun list`` should. Plain dicts are also what the manage commands print.
Kubeconfigs with exec plugins or auth providers are handed to the ``kubernetes`` loader, which
knows them all; token, client-certificate and CA settings are read here.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from kuberun.manage.errors import ApiError, NotFoundError, UnreachableError, forbidden

MERGE_PATCH = "application/merge-patch+json"
_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass
class Credentials:
    """Where the API server is and how to authenticate to it."""

    server: str
    namespace: str = "default"
    user: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


def _data_file(data: str, suffix: str) -> str:
    """urllib3 takes certificates and keys as files: write the kubeconfig's inline data to a private one."""
    import atexit

    fd, name = tempfile.mkstemp(prefix="kuberun-", suffix=suffix)
    with os.fdopen(fd, "wb") as out:
        out.write(base64.b64decode(data))
    atexit.register(_remove, name)
    return name


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _file_or_data(entry: dict[str, Any], key: str, base: Path, suffix: str) -> str | None:
    if entry.get(f"{key}-data"):
        return _data_file(entry[f"{key}-data"], suffix)
    if entry.get(key):
        return str((base / entry[key]).expanduser())
    return None


def _named(items: list[dict[str, Any]] | None, name: str | None) -> dict[str, Any]:
    return next((i for i in items or [] if i.get("name") == name), {})


def _merged_config(paths: list[Path]) -> dict[str, Any]:
    """KUBECONFIG may list several files: the first occurrence of each name wins, as in kubectl."""
    import yaml

    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    for path in paths:
        if not path.is_file():
            continue
        doc = yaml.safe_load(path.read_text()) or {}
        merged.setdefault("current-context", doc.get("current-context"))
        merged["current-context"] = merged["current-context"] or doc.get("current-context")
        for key in ("clusters", "users", "contexts"):
            known = {i.get("name") for i in merged[key]}
            merged[key] += [i for i in doc.get(key) or [] if i.get("name") not in known]
    return merged


def _from_kubernetes_loader(path: str, context: str | None) -> Credentials:
    """exec plugins and auth providers: let the ``kubernetes`` package produce the token."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
    token = cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken")
    headers = {"Authorization": token if token and token.startswith("Bearer") else f"Bearer {token}"} if token else {}
    return Credentials(server=cfg.host, headers=headers, ca_file=cfg.ssl_ca_cert, cert_file=cfg.cert_file,
                       key_file=cfg.key_file, verify=cfg.verify_ssl)


def load_credentials(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """Credentials from ``kubeconfig`` (or ``$KUBECONFIG``, ``~/.kube/config``, the pod's service account)."""
    spec = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    paths = [Path(p).expanduser() for p in spec.split(os.pathsep) if p]
    conf = _merged_config(paths)
    if not conf["contexts"]:
        if not kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return _in_cluster()
        raise UnreachableError(f"no cluster configured: no kubeconfig at {spec} (use --kubeconfig or --context)")
    ctx_name = context or conf.get("current-context")
    ctx_entry = _named(conf["contexts"], ctx_name)
    if not ctx_entry:
        raise UnreachableError(f"context {ctx_name!r} not found in {spec}")
    ctx = ctx_entry.get("context") or {}
    cluster, user = _named(conf["clusters"], ctx.get("cluster")).get("cluster") or {}, _named(conf["users"], ctx.get("user")).get("user") or {}
    if user.get("exec") or user.get("auth-provider"):
        creds = _from_kubernetes_loader(str(paths[0]), ctx_name)
    else:
        creds = _static_credentials(cluster, user, paths[0].parent)
    creds.namespace, creds.user = ctx.get("namespace") or "default", ctx.get("user")
    return creds


def _static_credentials(cluster: dict[str, Any], user: dict[str, Any], base: Path) -> Credentials:
    headers: dict[str, str] = {}
    token = user.get("token") or (Path(user["tokenFile"]).read_text().strip() if user.get("tokenFile") else None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user.get("username"):
        basic = base64.b64encode(f"{user['username']}:{user.get('password', '')}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    return Credentials(
        server=str(cluster.get("server", "")).rstrip("/"),
        headers=headers,
        ca_file=_file_or_data(cluster, "certificate-authority", base, ".crt"),
        cert_file=_file_or_data(user, "client-certificate", base, ".crt"),
        key_file=_file_or_data(user, "client-key", base, ".key"),
        verify=not cluster.get("insecure-skip-tls-verify", False),
    )


def _in_cluster() -> Credentials:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token = (_SA_DIR / "token").read_text().strip()
    namespace = (_SA_DIR / "namespace").read_text().strip() if (_SA_DIR / "namespace").exists() else "default"
    return Credentials(server=f"https://{host}:{port}", namespace=namespace, user="serviceaccount",
                       headers={"Authorization": f"Bearer {token}"}, ca_file=str(_SA_DIR / "ca.crt"))


@dataclass(frozen=True)
class Op:
    """What a request does, in RBAC terms: named in errors (``forbidden: may not patch experiments``)."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None


class Kube:
    """JSON requests against one API server, errors translated to one-line ManageErrors."""

    def __init__(self, creds: Credentials) -> None:
        import urllib3

        self.creds = creds
        self.namespace, self.user = creds.namespace, creds.user
        kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED" if creds.verify else "CERT_NONE"}
        if creds.ca_file:
            kwargs["ca_certs"] = creds.ca_file
        if creds.cert_file:
            kwargs.update(cert_file=creds.cert_file, key_file=creds.key_file)
        if not creds.verify:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=8, retries=False, **kwargs)

    def request(self, method: str, path: str, op: Op, *, query: dict[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json", stream: bool = False, timeout: float | None = 30.0) -> Any:
        """Send one request; returns parsed JSON (or the raw response when ``stream``)."""
        import urllib3

        url = self.creds.server + path + ("?" + urlencode({k: v for k, v in query.items() if v is not None}) if query else "")
        headers = {"Accept": "application/json", **self.creds.headers}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        try:
            resp = self._pool.request(method, url, body=data, headers=headers, preload_content=not stream,
                                      timeout=urllib3.Timeout(connect=10.0, read=timeout))
        except urllib3.exceptions.HTTPError as exc:
            raise UnreachableError(f"cannot reach the Kubernetes API at {self.creds.server}: {_reason(exc)}") from None
        if resp.status >= 400:
            raise _error(resp.status, resp.data if not stream else resp.read(), op)
        if stream:
            return resp
        return json.loads(resp.data) if resp.data else {}

    def get(self, path: str, op: Op, **query: Any) -> Any:
        return self.request("GET", path, op, query=query or None)

    def stream(self, path: str, op: Op, **query: Any) -> Iterator[bytes]:
        """Chunks of a streamed body (pod logs), as they arrive: never the whole body in memory."""
        resp = self.request("GET", path, op, query=query or None, stream=True, timeout=None)
        try:
            yield from resp.stream(64 * 1024, decode_content=True)
        finally:
            resp.release_conn()


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    return text.split(": ", 1)[-1][:200]


def _error(code: int, raw: bytes, op: Op) -> Exception:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"message": raw.decode(errors="replace")[:300]}
    body = body if isinstance(body, dict) else {}
    if code == 403:
        return forbidden(body, op.verb, op.resource, op.namespace)
    if code == 404 and op.name:
        where = f' in namespace "{op.namespace}"' if op.namespace else ""
        kind = op.resource.split(".")[0].rstrip("s")
        return NotFoundError(f'{kind} "{op.name}" not found{where}')
    if code == 401:
        return ApiError(code, "unauthorized: the API server did not accept your credentials (check the kubeconfig user)", "Unauthorized")
    message = str(body.get("message") or f"HTTP {code}").splitlines()[0]
    return ApiError(code, f"{op.verb} {op.resource}: {message}", str(body.get("reason") or ""))


def connect(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None) -> Kube:
    """A Kube client for the kubeconfig context; ``namespace`` overrides the context's."""
    kube = Kube(load_credentials(kubeconfig, context))
    if namespace:
        kube.namespace = namespace
    return kube
